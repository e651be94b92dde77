// hwloc topology loader, outside malloc (to be written).
