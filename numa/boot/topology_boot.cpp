// numa boot topology: sysfs and synthetic descriptions, usable inside malloc (to be written).
