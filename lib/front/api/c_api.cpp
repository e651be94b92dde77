// hl_* C API (to be written).
