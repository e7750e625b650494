"""``python -m scim_server.cli``: how `roster serve` starts its outbox sender."""

from . import main

if __name__ == "__main__":
    main()
