"""What the experiments write for reading: one table value rendered to markdown, HTML and JSON
(`table`), heatmap pictures without matplotlib (`render`), and the page that stitches the sections
each experiment wrote (`page`; `python -m eval.report OUT`)."""
