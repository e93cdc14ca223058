# Loads the grader into every pytest run in this repository (checks/ and tests/ alike).
pytest_plugins = ["workbook.grader.plugin"]
