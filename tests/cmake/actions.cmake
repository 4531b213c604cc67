# (filled by the actions work)
