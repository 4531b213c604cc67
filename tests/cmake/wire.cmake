# (filled by the wire work)
