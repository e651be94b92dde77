// cells.csv (one row per cell) and results.json (cells, summary, allocators).
#pragma once

#include "harness/records.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hoardlab::harness {

// The CSV's header; tests and downstream scripts read columns by these names.
const std::vector<std::string>& csv_columns();

void write_cells_csv(const std::string& path, const std::vector<CellSummary>& cells);

nlohmann::json cells_json(const std::vector<CellSummary>& cells);

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);

} // namespace hoardlab::harness
