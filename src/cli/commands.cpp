#include "cli/commands.hpp"

namespace irisml::cli {

const std::vector<CommandEntry>& all_commands() {
  static const std::vector<CommandEntry> commands = {};
  return commands;
}

}  // namespace irisml::cli
