"""The built-in templates, installed as the package ``digest.templates``.

Override any one of them by putting a file of the same name in the folder the config's
``templates`` key names.
"""
