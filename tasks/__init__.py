"""The pipeline's stages, one package each: data -> training -> registry -> scoring -> monitoring -> promotion.

In every package, ``tasks.py`` holds the Prefect tasks (thin: read, call the core, write, publish), ``store.py``
the stage's MongoDB reads and writes, ``params.py`` its parameters and ``results.py`` what its tasks return; every
other module is the pure core, tested without a database or Prefect."""
