"""``zhongli init``: a deployment's configs proposed from the parties' own data files.

:mod:`deploy.scaffold.infer` looks at a file (delimiter, column types, ID columns),
:mod:`deploy.scaffold.roles` proposes each column's role, :mod:`deploy.scaffold.command` writes
every config through :mod:`deploy.configs`. docs/OWN_DATA.md walks through it.
"""
