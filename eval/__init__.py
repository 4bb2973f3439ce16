"""The paper's comparison of LRP, DeepLIFT, LIME and SHAP (section 4): metrics, sample selection,
resumable records, tables (`python -m eval.compare`), benchmarks (`python -m eval.bench`), figures
and the report."""
