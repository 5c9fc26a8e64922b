"""``python -m mock_wiro.gevent_serve serve ...``: ``mock-wiro serve --server gevent``'s
process. gevent patches the standard library first, before any other import, then the
command line runs as usual (``mock_wiro.cli``)."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from mock_wiro.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
