"""Development and demo tools, never run at a party's site: the synthetic world (``synth``), the
small worlds tests and benchmarks build (``world``), the demo (``demo``), the launcher behind
``zhongli up`` and the demo (``launcher``), the no-disk trace checker (``trace``, ``strace_log``)
and the protobuf code generator (``protogen``).

Imports point from here to the product (``deploy.configs``, ``deploy.topology``, ...), never back:
the product's modules import nothing from this package, except ``deploy.cli``, which loads a tool
inside the command that runs it.
"""
