"""The offline training package: data, losses, one shared loop, recipes, evaluation and publishing.
Run ``python -m training --list`` for the recipes."""
