# (filled by the sdk work)
