// scripts/pccheckd.example.toml, which `meson install` ships and the unit's
// /etc/pccheck/pccheckd.toml starts from, is exactly what `pccheckd
// --print-config` prints for a daemon run as root: every current key, each
// with its current meaning, none left over.
#include "catch.h"
#include "config/settings.h"
#include "pccheck_source_dir.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

TEST_CASE("scripts/pccheckd.example.toml is current with the settings table") {
  auto defaults = DefaultDaemonConfig();
  REQUIRE(defaults.ok());
  DaemonConfig root = *defaults;  // the defaults that depend on who runs it, for root:
  root.engine.root = "/var/lib/pccheck";
  root.socket = "/run/pccheck/pccheckd.sock";
  root.allow_uids = {0};
  const std::string path = std::string(PCCHECK_SOURCE_DIR) + "/scripts/pccheckd.example.toml";
  const bool current = testing::ReadTextFile(path) == PrintConfig(root);
  INFO(path << " is out of date with the settings table in daemon/config/settings_table.cc. "
               "Regenerate it as root: build/daemon/pccheckd --print-config > "
               "scripts/pccheckd.example.toml");
  CHECK(current);
}

}  // namespace
}  // namespace pccheck
