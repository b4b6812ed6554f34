"""Call cerebrium_deploy's main.predict the way Cerebrium does, in a fresh interpreter.

    python call_cerebrium_main.py APP_DIR MISSING_PACKAGES < calls.json

Runs from the app folder APP_DIR with the repo nowhere on sys.path, and the
comma-separated MISSING_PACKAGES made uninstallable (as in an image without
them). stdin holds a JSON list of keyword arguments for predict() (or, with a
"_function" key, for that function of main); the last
stdout line is a JSON object with the answers and what was loaded.
"""
import importlib.abc
import json
import sys

missing = set(sys.argv[2].split(","))


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NotInstalled())
sys.path[0] = sys.argv[1]   # the app folder instead of this script's folder
import config  # noqa: E402
import main  # noqa: E402

answers = []
for kwargs in json.load(sys.stdin):
    try:
        answers.append(getattr(main, kwargs.pop("_function", "predict"))(**kwargs))
    except BaseException as exc:
        answers.append({"raised": repr(exc)})
print(json.dumps({"answers": answers, "backend": main.predictor.backend, "root": str(config.ROOT),
                  "endpoints": sorted(n for n, v in vars(main).items() if callable(v) and not n.startswith("_")),
                  "loaded": sorted(m for m in ("tensorflow", "keras", "ai_edge_litert") if m in sys.modules)}))
