"""The evaluation that compares the methods: experiments on one runner, metrics, removal, reports.

    eval/
      methods.py   the registry of explanation methods with the paper's settings (PAPER)
      randomization.py  copies of the model with parameters re-drawn (eval.sanity, controls of compare, hans)
      stats/       intervals clustered by image, paired differences, Holm, equivalence tests
      metrics/     one metric per file, its direction declared beside it; the registry tables read
      removal/     removal operators (grey, blur, inpaint, true) and removal curves
      store/       the output folder: records and arrays, files written whole, the lock, the manifest
      run/         the runner (resume, --fresh, lock, progress, torchrun), shared options, sample selection
      compare/     python -m eval.compare: the main job (the paper's comparison and more)
      sanity/      python -m eval.sanity: model-parameter randomisation sanity checks
      hans/        python -m eval.hans: which method reveals a Clever-Hans detector's cue
      report/      one table value rendered to markdown, HTML and JSON; heatmap pictures; the page
      explain.py   python -m eval.explain IMAGE …: heatmaps of your own images
      bench.py     python -m eval.bench: what each method costs, in units of the model's own passes

Where new things go: a metric is a file in metrics/ (with its `METRICS`); a removal operator a class
in removal/operators.py; a method an entry of methods.py; an experiment a subpackage with a
subclass of `eval.run.runner.Experiment` and a `__main__.py`.
"""
