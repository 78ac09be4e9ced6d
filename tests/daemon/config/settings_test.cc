#include "config/settings.h"

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/json_parse.h"
#include "catch.h"
#include "pccheck_source_dir.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

struct Parsed {
  Result<std::optional<DaemonConfig>> result = Status::Internal("not run");
  int exit_code = -1;
  std::string out;
};

Parsed Run(std::vector<std::string> args) {
  args.insert(args.begin(), "pccheckd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Parsed p;
  std::ostringstream out;
  p.result = ParseDaemonCommandLine(static_cast<int>(args.size()), argv.data(), &p.exit_code, out);
  p.out = out.str();
  return p;
}

// The configuration `args` give; fails the test if they do not parse.
DaemonConfig Config(const std::vector<std::string>& args) {
  Parsed p = Run(args);
  INFO(p.result.status().ToString());
  REQUIRE(p.result.ok());
  REQUIRE(p.result.value().has_value());
  return *p.result.value();
}

// The message of the error `args` give; fails the test if they parse.
std::string Error(const std::vector<std::string>& args) {
  Parsed p = Run(args);
  REQUIRE_FALSE(p.result.ok());
  CHECK(p.result.status().code() == Code::kInvalidArgument);
  CHECK(p.exit_code == 2);
  return p.result.status().message();
}

std::string WriteFile(const testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Our messages start "pool: "; the few that CLI11 makes itself (a flag given
// twice or without its value) start "--pool: ".
bool NamesKey(const std::string& message, const std::string& key) {
  return StartsWith(message, key + ": ") || StartsWith(message, "--" + key + ": ");
}

TEST_CASE("every setting is declared once, with a flag matching its key") {
  std::set<std::string> keys;
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK(keys.insert(s.key).second);
    CHECK(std::string(s.flag) == std::string("--") + s.key);
    CHECK(std::string(s.meaning).size() > 10);
    CHECK(std::string(s.field).size() > 0);
  }
  for (const char* key :
       {"root", "socket", "socket-mode", "pool", "chunk", "writers", "checksum-threads",
        "max-inflight", "policy", "allow-uid", "allow-group", "blob-slot", "log-level",
        "shutdown-timeout", "direct-io", "keep-every", "admin-group", "max-step-jump"}) {
    CAPTURE(key);
    CHECK(keys.count(key) == 1);
  }
  CHECK(keys.size() == 19);
}

TEST_CASE("max-step-jump: a billion steps by default, 0 turns the bound off") {
  CHECK(Config({}).engine.max_step_jump == 1'000'000'000);
  CHECK(Config({"--max-step-jump", "0"}).engine.max_step_jump == 0);
  CHECK(Config({"--max-step-jump=50"}).engine.max_step_jump == 50);
  CHECK(Config({"--admin-group", "0"}).admin_gids == std::vector<uint32_t>{0});
  CHECK(Config({}).admin_gids.empty());
  for (const char* bad : {"-1", "many"}) {
    CAPTURE(bad);
    CHECK(Error({"--max-step-jump", bad}).find("max-step-jump") != std::string::npos);
  }
}

TEST_CASE("keep-every: retention is off by default, any step count turns it on") {
  CHECK(Config({}).engine.keep_every == 0);
  CHECK(Config({"--keep-every", "1000"}).engine.keep_every == 1000);
  CHECK(Config({"--keep-every=1"}).engine.keep_every == 1);
  for (const char* bad : {"-1", "ten", "1.5"}) {
    CAPTURE(bad);
    const std::string why = Error({"--keep-every", bad});
    CHECK(StartsWith(why, "keep-every: "));
  }
  DaemonConfig c = Config({"--keep-every", "50"});
  DaemonConfig d = Config({});
  CHECK_FALSE(c == d);
}

TEST_CASE("defaults come from the table") {
  auto d = DefaultDaemonConfig();
  INFO(d.status().ToString());
  REQUIRE(d.ok());
  const DaemonConfig& c = d.value();
  CHECK(c.engine.pool_bytes == (4ull << 30));
  CHECK(c.engine.chunk_bytes == (64ull << 20));
  CHECK(c.engine.writers == 4);
  CHECK(c.engine.max_inflight == 2);
  CHECK(c.engine.policy == Policy::kCoalesce);  // the memory tier is the default
  CHECK(c.engine.direct_io);
  CHECK(c.socket_mode == 0660);
  CHECK(c.allow_uids == std::vector<uint32_t>{static_cast<uint32_t>(geteuid())});
  CHECK(c.allow_gids.empty());
  CHECK(c.blob_slot_bytes == (16ull << 20));
  CHECK(c.log_level == "info");
  CHECK(c.shutdown_timeout_s == 30);
  if (geteuid() == 0) {
    CHECK(c.engine.root == "/var/lib/pccheck");
    CHECK(c.socket == "/run/pccheck/pccheckd.sock");
  } else {
    CHECK(!c.engine.root.empty());
    CHECK(c.engine.root.find("pccheck") != std::string::npos);
    CHECK(c.socket.find("pccheckd.sock") != std::string::npos);
  }
  // The struct's own initializers agree with the table where both exist.
  const DaemonConfig plain;
  CHECK(plain.socket_mode == c.socket_mode);
  CHECK(plain.blob_slot_bytes == c.blob_slot_bytes);
  CHECK(plain.log_level == c.log_level);
  CHECK(plain.shutdown_timeout_s == c.shutdown_timeout_s);

  // No arguments at all gives the same.
  CHECK(Config({}) == c);
}

// The engine and the table cannot disagree: a plain EngineOptions (what the
// engine's tests and offline tools start from) is pccheckd's default engine.
TEST_CASE("the engine's own defaults are the table's") {
  auto d = DefaultDaemonConfig();
  INFO(d.status().ToString());
  REQUIRE(d.ok());
  const EngineOptions& table = d->engine;
  const EngineOptions plain;
  CHECK(plain.pool_bytes == table.pool_bytes);
  CHECK(plain.chunk_bytes == table.chunk_bytes);
  CHECK(plain.writers == table.writers);
  CHECK(plain.max_inflight == table.max_inflight);
  CHECK(plain.policy == table.policy);
  CHECK(plain.direct_io == table.direct_io);
  CHECK(plain.keep_resident == table.keep_resident);
  CHECK(plain.keep_every == table.keep_every);
  CHECK(plain.max_step_jump == table.max_step_jump);
  // Rows with a fixed default document the value itself, as --help shows it.
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK((s.default_rule == nullptr) == (s.computed_default == nullptr));
    if (s.default_rule == nullptr) CHECK(DocumentedDefault(s) == DefaultText(s));
  }
  CHECK(DocumentedDefault(*FindSetting("pool")) == "4GiB");
  CHECK(DocumentedDefault(*FindSetting("chunk")) == "64MiB");
  CHECK(DocumentedDefault(*FindSetting("socket-mode")) == "0660");
  CHECK(FindSetting("no-such-key") == nullptr);
}

TEST_CASE("the status document's config holds every setting of the table") {
  const DaemonConfig c = Config({"--allow-group", "0", "--socket-mode", "0640", "--pool", "1GiB",
                                 "--keep-resident", "false", "--log-level", "debug"});
  auto doc = ParseJson(ConfigJson(c));
  INFO(ConfigJson(c));
  REQUIRE(doc.ok());
  CHECK(doc->members().size() == AllSettings().size());
  for (const Setting& s : AllSettings()) {
    std::string key = s.field;
    if (key.rfind("engine.", 0) == 0) key = key.substr(7);
    CAPTURE(s.key, key);
    CHECK(doc->Find(key) != nullptr);
  }
  const JsonValue& j = *doc;
  CHECK(j["root"].AsString() == c.engine.root);
  CHECK(j["socket"].AsString() == c.socket);
  CHECK(j["pool_bytes"].AsUint() == (1ull << 30));
  CHECK(j["chunk_bytes"].AsUint() == (64ull << 20));
  CHECK(j["writers"].AsInt() == 4);
  CHECK(j["max_inflight"].AsInt() == 2);
  CHECK(j["policy"].AsString() == "coalesce");
  CHECK(j["direct_io"].type() == JsonValue::Type::kBool);
  CHECK(j["direct_io"].AsBool());
  CHECK(j["keep_resident"].type() == JsonValue::Type::kBool);
  CHECK_FALSE(j["keep_resident"].AsBool(true));
  CHECK(j["keep_every"].AsUint(7) == 0);
  CHECK(j["socket_mode"].AsString() == "0640");
  REQUIRE(j["allow_uids"].items().size() == 1);
  CHECK(j["allow_uids"].items()[0].AsUint() == geteuid());
  REQUIRE(j["allow_gids"].items().size() == 1);
  CHECK(j["allow_gids"].items()[0].AsUint(9) == 0);
  CHECK(j["blob_slot_bytes"].AsUint() == (16ull << 20));
  CHECK(j["log_level"].AsString() == "debug");
  CHECK(j["shutdown_timeout_s"].AsUint() == 30);
}

TEST_CASE("flags set every setting") {
  DaemonConfig c =
      Config({"--root=/mnt/ssd/pccheck", "--pool=8GiB", "--chunk=16M", "--writers=8",
              "--max-inflight=3", "--policy=skip", "--direct-io=false", "--socket=/tmp/p/x.sock",
              "--socket-mode=0600", "--allow-uid=root,1234", "--allow-uid=1235", "--allow-group=0",
              "--blob-slot=1M", "--log-level=debug", "--shutdown-timeout=0"});
  CHECK(c.engine.root == "/mnt/ssd/pccheck");
  CHECK(c.engine.pool_bytes == (8ull << 30));
  CHECK(c.engine.chunk_bytes == (16ull << 20));
  CHECK(c.engine.writers == 8);
  CHECK(c.engine.max_inflight == 3);
  CHECK(c.engine.policy == Policy::kSkip);
  CHECK(!c.engine.direct_io);
  CHECK(c.socket == "/tmp/p/x.sock");
  CHECK(c.socket_mode == 0600);
  CHECK(c.allow_uids == std::vector<uint32_t>{0, 1234, 1235});
  CHECK(c.allow_gids == std::vector<uint32_t>{0});
  CHECK(c.blob_slot_bytes == (1ull << 20));
  CHECK(c.log_level == "debug");
  CHECK(c.shutdown_timeout_s == 0);
}

TEST_CASE("a TOML config file sets settings") {
  testing::TempDir dir;
  const std::string path = WriteFile(dir, "pccheckd.toml",
                                     "# a comment\n"
                                     "root = \"/srv/ckpt\"\n"
                                     "pool = \"2GiB\"\n"
                                     "writers = 6\n"
                                     "policy = \"skip\"\n"
                                     "direct-io = false\n"
                                     "socket-mode = \"0666\"\n"
                                     "allow-uid = [0, 4242]\n"
                                     "allow-group = \"\"\n");
  DaemonConfig c = Config({"--config", path});
  CHECK(c.engine.root == "/srv/ckpt");
  CHECK(c.engine.pool_bytes == (2ull << 30));
  CHECK(c.engine.writers == 6);
  CHECK(c.engine.policy == Policy::kSkip);
  CHECK(!c.engine.direct_io);
  CHECK(c.socket_mode == 0666);
  CHECK(c.allow_uids == std::vector<uint32_t>{0, 4242});
  CHECK(c.allow_gids.empty());
  CHECK(c.engine.chunk_bytes == (64ull << 20));  // not in the file: the default
}

TEST_CASE("an INI config file sets settings") {
  testing::TempDir dir;
  const std::string path = WriteFile(dir, "pccheckd.ini",
                                     "; an INI comment\n"
                                     "[default]\n"
                                     "root=/srv/ini\n"
                                     "chunk=1M\n"
                                     "max-inflight=4\n"
                                     "log-level=warn\n"
                                     "allow-uid=0,77\n");
  DaemonConfig c = Config({"--config", path});
  CHECK(c.engine.root == "/srv/ini");
  CHECK(c.engine.chunk_bytes == (1ull << 20));
  CHECK(c.engine.max_inflight == 4);
  CHECK(c.log_level == "warn");
  CHECK(c.allow_uids == std::vector<uint32_t>{0, 77});
}

TEST_CASE("a flag wins over the config file") {
  testing::TempDir dir;
  const std::string path =
      WriteFile(dir, "c.toml", "pool = \"2GiB\"\nwriters = 6\nallow-uid = [5, 6]\n");
  DaemonConfig c = Config({"--pool", "1GiB", "--config", path, "--allow-uid", "7"});
  CHECK(c.engine.pool_bytes == (1ull << 30));
  CHECK(c.engine.writers == 6);
  CHECK(c.allow_uids == std::vector<uint32_t>{7});
}

TEST_CASE("every bad value is refused with its key named") {
  struct Bad {
    const char* key;
    const char* value;
  };
  const std::string long_socket = "/tmp/" + std::string(120, 's') + ".sock";
  const std::vector<Bad> bad = {
      {"root", "relative/dir"},
      {"root", ""},
      {"pool", "12QB"},
      {"pool", "-1G"},
      {"pool", "4K"},
      {"chunk", "1000"},
      {"chunk", "4G"},
      {"chunk", "1.5M"},
      {"writers", "0"},
      {"writers", "257"},
      {"writers", "four"},
      {"checksum-threads", "-1"},
      {"checksum-threads", "257"},
      {"max-inflight", "65"},
      {"max-inflight", "2x"},
      {"policy", "wait"},
      {"direct-io", "maybe"},
      {"keep-resident", "sometimes"},
      {"keep-every", "-1"},
      {"keep-every", "ten"},
      {"socket", "pccheckd.sock"},
      {"socket", long_socket.c_str()},
      {"socket-mode", "0999"},
      {"socket-mode", "01777"},
      {"socket-mode", "rw"},
      {"allow-uid", "no-such-user-pccheck"},
      {"allow-uid", "4294967295"},
      {"allow-group", "no-such-group-pccheck"},
      {"admin-group", "no-such-group-pccheck"},
      {"max-step-jump", "-1"},
      {"max-step-jump", "lots"},
      {"blob-slot", "1G"},
      {"blob-slot", "5000"},
      {"log-level", "verbose"},
      {"shutdown-timeout", "-5"},
      {"shutdown-timeout", "86401"},
  };
  std::set<std::string> covered;
  testing::TempDir dir;
  for (const Bad& b : bad) {
    covered.insert(b.key);
    CAPTURE(b.key, b.value);
    // As a flag.
    const std::string from_flag = Error({std::string("--") + b.key + "=" + b.value});
    CAPTURE(from_flag);
    CHECK(NamesKey(from_flag, b.key));
    // As a key of the config file.
    const std::string path =
        WriteFile(dir, "bad.toml", std::string(b.key) + " = \"" + b.value + "\"\n");
    const std::string from_file = Error({"--config", path});
    CAPTURE(from_file);
    CHECK(NamesKey(from_file, b.key));
  }
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK(covered.count(s.key) == 1);
  }
}

TEST_CASE("the messages say what is wrong and what is accepted") {
  CHECK(Error({"--pool", "12QB"}).find("'12QB'") != std::string::npos);
  CHECK(Error({"--pool", "12QB"}).find("64M") != std::string::npos);
  CHECK(Error({"--writers", "300"}) == "writers: 300 is not in 1..256");
  CHECK(Error({"--policy", "wait"}) == "policy: 'wait' is not one of coalesce, block, skip");
  CHECK(Error({"--chunk", "10000"}).find("multiple of 4 KiB") != std::string::npos);
}

TEST_CASE("settings are checked against each other") {
  const std::string m = Error({"--pool", "64M", "--chunk", "64M"});
  INFO(m);
  CHECK(StartsWith(m, "pool: "));
  CHECK(m.find("2 chunks") != std::string::npos);
  CHECK(Config({"--pool", "128M", "--chunk", "64M"}).engine.pool_bytes == (128ull << 20));
}

TEST_CASE("unknown flags, keys and files are refused") {
  CHECK(Error({"--pol", "1G"}).find("--pol") != std::string::npos);
  const std::string two = Error({"--root", "/a", "/b"});  // CLI11 2.1 and 2.4 word it apart
  CHECK((two.find("root") != std::string::npos || two.find("/b") != std::string::npos));
  testing::TempDir dir;
  const std::string unknown = WriteFile(dir, "u.toml", "pools = \"1G\"\n");
  CHECK(Error({"--config", unknown}) ==
        "config file " + unknown +
            ": unknown key 'pools'; the keys are root, pool, chunk, "
            "writers, checksum-threads, max-inflight, policy, direct-io, keep-resident, "
            "keep-every, socket, "
            "socket-mode, allow-uid, allow-group, admin-group, max-step-jump, blob-slot, "
            "log-level, shutdown-timeout");
  const std::string section = WriteFile(dir, "s.toml", "[pccheckd]\npool = \"1G\"\n");
  const std::string in_section = Error({"--config", section});
  CHECK(StartsWith(in_section, "config file " + section + ": 'pccheckd' is a section"));
  const std::string missing = Error({"--config", dir.path() + "/missing.toml"});
  CHECK(StartsWith(missing, "config file: "));
  CHECK(missing.find("missing.toml") != std::string::npos);
}

TEST_CASE("--print-config writes a file that reads back to the same configuration") {
  SECTION("defaults") {
    Parsed p = Run({"--print-config"});
    REQUIRE(p.result.ok());
    CHECK(!p.result.value().has_value());
    CHECK(p.exit_code == 0);
    for (const Setting& s : AllSettings()) {
      CAPTURE(s.key);
      CHECK(p.out.find("\n" + std::string(s.key) + " = ") != std::string::npos);
      CHECK(p.out.find(s.meaning) != std::string::npos);
    }
    testing::TempDir dir;
    CHECK(Config({"--config", WriteFile(dir, "p.toml", p.out)}) == Config({}));
  }
  SECTION("every setting changed") {
    const std::vector<std::string> args = {"--root=/srv/with space/ckpt",
                                           "--pool=3GiB",
                                           "--chunk=12K",
                                           "--writers=9",
                                           "--max-inflight=5",
                                           "--policy=skip",
                                           "--direct-io=off",
                                           "--socket=/run/x/y.sock",
                                           "--socket-mode=640",
                                           "--allow-uid=0,1,2",
                                           "--allow-group=0",
                                           "--blob-slot=8K",
                                           "--log-level=trace",
                                           "--shutdown-timeout=7",
                                           "--pool=12345678"};
    // --pool twice: refused, a setting takes one value.
    CHECK(NamesKey(Error(args), "pool"));
    const std::vector<std::string> good(args.begin(), args.end() - 1);
    const DaemonConfig c = Config(good);
    CHECK(c.engine.root == "/srv/with space/ckpt");
    testing::TempDir dir;
    const std::string printed = PrintConfig(c);
    INFO(printed);
    CHECK(Config({"--config", WriteFile(dir, "p.toml", printed)}) == c);
  }
  SECTION("a pool that is no whole number of KiB") {
    const DaemonConfig c = Config({"--pool", "12345678", "--chunk", "4K"});
    testing::TempDir dir;
    CHECK(Config({"--config", WriteFile(dir, "p.toml", PrintConfig(c))}) == c);
  }
}

TEST_CASE("--help teaches every flag with its default, and shows examples") {
  Parsed p = Run({"--help"});
  REQUIRE(p.result.ok());
  CHECK(!p.result.value().has_value());
  CHECK(p.exit_code == 0);
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK(p.out.find(std::string(s.flag) + " " + s.value_name) != std::string::npos);
    CHECK(p.out.find("default " + DefaultText(s).substr(0, 4)) != std::string::npos);
  }
  CHECK(p.out.find("default 30 seconds") != std::string::npos);
  CHECK(p.out.find("pccheckd --root /mnt/ssd/pccheck --pool 8GiB") != std::string::npos);
  CHECK(p.out.find("pccheckd --config /etc/pccheck/pccheckd.toml") != std::string::npos);
  CHECK(p.out.find("pccheckd --print-config > pccheckd.toml") != std::string::npos);
}

TEST_CASE("docs/settings.md is generated from the table") {
  Parsed p = Run({"--help-settings-markdown"});
  REQUIRE(p.result.ok());
  CHECK(p.exit_code == 0);
  CHECK(p.out == SettingsMarkdown());
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK(p.out.find("| `" + std::string(s.key) + "` |") != std::string::npos);
  }

  const std::string path = std::string(PCCHECK_SOURCE_DIR) + "/docs/settings.md";
  const bool current = testing::ReadTextFile(path) == SettingsMarkdown();
  INFO(path << " is out of date with the settings table in daemon/config/settings_table.cc. "
               "Regenerate it: build/daemon/pccheckd --help-settings-markdown > docs/settings.md "
               "(or build/tests/daemon/config/pccheck-settings-doc > docs/settings.md)");
  CHECK(current);
}

TEST_CASE("scripts/pccheckd.example.toml is a valid config") {
  const std::string path = std::string(PCCHECK_SOURCE_DIR) + "/scripts/pccheckd.example.toml";
  const std::string text = testing::ReadTextFile(path);
  REQUIRE_FALSE(text.empty());
  for (const Setting& s : AllSettings()) {
    CAPTURE(s.key);
    CHECK(text.find("\n" + std::string(s.key) + " = ") != std::string::npos);
  }
  DaemonConfig c = Config({"--config", path});
  CHECK(c.engine.root == "/var/lib/pccheck");
}

}  // namespace
}  // namespace pccheck
