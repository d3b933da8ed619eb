# gunicorn settings for l2i: they live in the package (l2i/gunicorn_conf.py), so that an installed wheel has them
# too (`gunicorn -c python:l2i.gunicorn_conf`). `make run` and the tests start gunicorn with this file.
from l2i.gunicorn_conf import *  # noqa: F401,F403
