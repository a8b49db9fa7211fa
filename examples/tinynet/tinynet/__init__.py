"""An example model for edgecheck's merge gate."""
