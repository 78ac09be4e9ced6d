// `pccheck export` and `pccheck restore` end to end: a store written by the
// engine, the built binary run on it, and the output read back with readers
// written here from the formats' specs (not with the exporter's code).
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include "base/json_parse.h"
#include "catch.h"
#include "daemon/engine/engine_fixture.h"
#include "pccheck_run.h"

namespace pccheck::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The "step" of a restored directory's index.json; 0 when it cannot be read.
uint64_t IndexStep(const std::string& dir) {
  auto index = ParseJson(ReadTextFile(dir + "/index.json"));
  return index.ok() ? index.value()["step"].AsUint() : 0;
}

struct Saved {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

std::string Blob(uint64_t step) {
  return std::string("blob\0\xff\x01 of step ", 14) + std::to_string(step);
}

// A table with every kind of tensor: several dtypes, a scalar, an empty
// one, and one spanning several 64 KiB chunks.
std::vector<Saved> Table(uint64_t step) {
  return {{"model.w", "float32", {3, 5}, RandomBytes(60, step * 10 + 1)},
          {"model.b", "bfloat16", {7}, RandomBytes(14, step * 10 + 2)},
          {"optim/0/step", "int64", {}, RandomBytes(8, step * 10 + 3)},
          {"flags", "bool", {4}, {0, 1, 1, static_cast<uint8_t>(step & 1)}},
          {"big", "uint8", {200'000}, RandomBytes(200'000, step * 10 + 4)},
          {"empty", "float32", {0}, {}}};
}

// Steps 1..n of job "job" rank 0 under `root`, saved by the engine.
std::map<uint64_t, std::vector<Saved>> SaveSteps(
    const std::string& root, int n, const std::function<std::vector<Saved>(uint64_t)>& table) {
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(SmallOptions(root), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  std::map<uint64_t, std::vector<Saved>> saved;
  for (uint64_t step = 1; step <= static_cast<uint64_t>(n); ++step) {
    saved[step] = table(step);
    SaveRequest r;
    r.job = "job";
    r.step = step;
    r.user_blob = Blob(step);
    for (const Saved& t : saved[step]) {
      TensorSource s;
      s.meta = {t.name, t.dtype, t.shape, 0, t.data.size()};
      s.data = t.data.data();
      r.tensors.push_back(s);
    }
    auto h = (*engine)->Save(std::move(r));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
  return saved;
}

std::string Bytes(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

std::string Base64Decode(const std::string& text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* p = c == '=' ? nullptr : std::strchr(alphabet, c);
    if (p == nullptr) break;
    acc = (acc << 6) | static_cast<uint32_t>(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::vector<int64_t> Shape(const JsonValue& v) {
  std::vector<int64_t> out;
  for (const auto& d : v.items()) out.push_back(d.AsInt(-1));
  return out;
}

// Reads a safetensors file as its spec describes it and checks it holds
// exactly `want`, its metadata naming step and blob.
void CheckSafetensors(const std::string& path, const std::vector<Saved>& want, uint64_t step) {
  const std::string file = ReadTextFile(path);
  REQUIRE(file.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  REQUIRE(8 + n <= file.size());
  CHECK((8 + n) % 8 == 0);
  auto header = ParseJson(std::string_view(file).substr(8, n));
  INFO(header.status().ToString());
  REQUIRE(header.ok());
  const std::string data = file.substr(8 + n);
  const std::map<std::string, std::string> codes = {{"float32", "F32"},
                                                    {"bfloat16", "BF16"},
                                                    {"int64", "I64"},
                                                    {"bool", "BOOL"},
                                                    {"uint8", "U8"}};
  uint64_t covered = 0;
  for (const Saved& t : want) {
    INFO("tensor " << t.name);
    const JsonValue& e = (*header)[t.name];
    REQUIRE(e.is_object());
    CHECK(e["dtype"].AsString() == codes.at(t.dtype));
    CHECK(Shape(e["shape"]) == t.shape);
    const uint64_t begin = e["data_offsets"].items().at(0).AsUint();
    const uint64_t end = e["data_offsets"].items().at(1).AsUint();
    REQUIRE(end <= data.size());
    CHECK(data.substr(begin, end - begin) == Bytes(t.data));
    covered += end - begin;
  }
  CHECK(covered == data.size());  // no holes, nothing extra
  CHECK(header->members().size() == want.size() + 1);
  const JsonValue& meta = (*header)["__metadata__"];
  CHECK(meta["job"].AsString() == "job");
  CHECK(meta["rank"].AsString() == "0");
  CHECK(meta["step"].AsString() == std::to_string(step));
  CHECK(Base64Decode(meta["user_blob_base64"].AsString()) == Blob(step));
}

struct Fixture {
  TempDir dir;
  std::string root = dir.path() + "/store";
  std::map<uint64_t, std::vector<Saved>> saved = SaveSteps(root, 3, Table);

  Run Pccheck(const std::string& args) { return testing::Pccheck(args, dir); }
  std::string From() const { return "--root " + Quote(root) + " --job job"; }
  std::string Out(const std::string& name) const { return dir.path() + "/" + name; }
};

TEST_CASE("export safetensors holds the newest or the asked-for step, bit-exact", "[cli]") {
  Fixture f;
  Run newest = f.Pccheck("export " + f.From() + " --format safetensors --out " +
                         Quote(f.Out("new.safetensors")));
  INFO(newest.out << newest.err);
  REQUIRE(newest.exit_code == 0);
  CHECK(Contains(newest.out, "exported step 3 of job job rank 0"));
  CheckSafetensors(f.Out("new.safetensors"), f.saved[3], 3);
  CHECK_FALSE(std::filesystem::exists(f.Out("new.safetensors.tmp")));

  Run step2 = f.Pccheck("export " + f.From() + " --step 2 --format safetensors --json --out " +
                        Quote(f.Out("two.safetensors")));
  INFO(step2.out << step2.err);
  REQUIRE(step2.exit_code == 0);
  CheckSafetensors(f.Out("two.safetensors"), f.saved[2], 2);
  auto summary = ParseJson(step2.out);
  REQUIRE(summary.ok());
  CHECK((*summary)["step"].AsUint() == 2);
  CHECK((*summary)["format"].AsString() == "safetensors");
  CHECK((*summary)["tensors"].AsUint() == 6);
  CHECK((*summary)["bytes"].AsUint() == std::filesystem::file_size(f.Out("two.safetensors")));
  CHECK(step2.err.empty());  // --json: no progress bar either
}

TEST_CASE("export raw is the stored data stream plus a JSON tensor table", "[cli]") {
  Fixture f;
  const std::string out = f.Out("ckpt.raw");
  Run run = f.Pccheck("export " + f.From() + " --step 1 --format raw --out " + Quote(out));
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  auto index = ParseJson(ReadTextFile(out + ".json"));
  INFO(index.status().ToString());
  REQUIRE(index.ok());
  CHECK((*index)["format"].AsString() == "pccheck-raw");
  CHECK((*index)["version"].AsUint() == 1);
  CHECK((*index)["job"].AsString() == "job");
  CHECK((*index)["rank"].AsUint(9) == 0);
  CHECK((*index)["step"].AsUint() == 1);
  CHECK(Base64Decode((*index)["user_blob_base64"].AsString()) == Blob(1));
  const std::string data = ReadTextFile(out);
  CHECK(data.size() == (*index)["data_bytes"].AsUint());
  const auto& tensors = (*index)["tensors"].items();
  REQUIRE(tensors.size() == f.saved[1].size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Saved& t = f.saved[1][i];
    INFO("tensor " << t.name);
    CHECK(tensors[i]["name"].AsString() == t.name);
    CHECK(tensors[i]["dtype"].AsString() == t.dtype);
    CHECK(Shape(tensors[i]["shape"]) == t.shape);
    CHECK(tensors[i]["bytes"].AsUint() == t.data.size());
    CHECK(data.substr(tensors[i]["offset"].AsUint(), t.data.size()) == Bytes(t.data));
  }
}

TEST_CASE("restore writes a file per tensor, the user blob and index.json", "[cli]") {
  Fixture f;
  const std::string out = f.Out("restored");
  Run run = f.Pccheck("restore " + f.From() + " --out " + Quote(out));
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(Contains(run.out, "restored step 3 of job job rank 0"));
  auto index = ParseJson(ReadTextFile(out + "/index.json"));
  REQUIRE(index.ok());
  CHECK((*index)["step"].AsUint() == 3);
  CHECK((*index)["job"].AsString() == "job");
  CHECK((*index)["rank"].AsUint(9) == 0);
  CHECK(ReadTextFile(out + "/user_blob.bin") == Blob(3));
  const auto& tensors = (*index)["tensors"].items();
  REQUIRE(tensors.size() == f.saved[3].size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Saved& t = f.saved[3][i];
    INFO("tensor " << t.name);
    CHECK(tensors[i]["name"].AsString() == t.name);
    CHECK(tensors[i]["dtype"].AsString() == t.dtype);
    CHECK(Shape(tensors[i]["shape"]) == t.shape);
    CHECK(tensors[i]["bytes"].AsUint() == t.data.size());
    CHECK(ReadTextFile(out + "/" + tensors[i]["file"].AsString()) == Bytes(t.data));
  }
  CHECK(tensors[2]["file"].AsString() == "optim_0_step.bin");  // '/' made '_'

  Run again = f.Pccheck("restore " + f.From() + " --step 1 --out " + Quote(out));
  CHECK(again.exit_code == 2);
  CHECK(Contains(again.err, "is not empty"));
  CHECK(Contains(again.err, "--force"));
  CHECK(IndexStep(out) == 3);  // untouched

  Run forced = f.Pccheck("restore " + f.From() + " --step 1 --force --out " + Quote(out));
  INFO(forced.out << forced.err);
  REQUIRE(forced.exit_code == 0);
  CHECK(IndexStep(out) == 1);
  CHECK(ReadTextFile(out + "/big.bin") == Bytes(f.saved[1][4].data));
}

TEST_CASE("a step that is not in the store is refused naming those that are", "[cli]") {
  Fixture f;
  for (const char* cmd : {"export --format raw --out ", "restore --out "}) {
    Run run = f.Pccheck(std::string(cmd) + Quote(f.Out("x")) + " --step 7 " + f.From());
    INFO(cmd << run.err);
    CHECK(run.exit_code == 1);
    CHECK(Contains(run.err, "step 7 of job job rank 0 is not in the store"));
    CHECK(Contains(run.err, "steps there: 1, 2, 3 (latest)"));
    CHECK_FALSE(std::filesystem::exists(f.Out("x")));
  }
}

TEST_CASE("a damaged chunk is refused by name and the old file is kept", "[cli]") {
  Fixture f;
  std::string data;
  for (const auto& e : std::filesystem::directory_iterator(f.root + "/job/rank-0")) {
    const std::string manifest = ReadTextFile(e.path().string());
    if (e.path().extension() == ".manifest" && Contains(manifest, Blob(3))) {
      data = e.path().parent_path().string() + "/" + e.path().stem().string() + ".data";
    }
  }
  REQUIRE(!data.empty());
  int fd = ::open(data.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, "\x55", 1, 70'000) == 1);  // chunk 1 (64 KiB chunks)
  ::close(fd);
  const std::string out = f.Out("old.safetensors");
  REQUIRE(std::system(("echo old > " + Quote(out)).c_str()) == 0);

  Run explicit_step =
      f.Pccheck("export " + f.From() + " --step 3 --format safetensors --out " + Quote(out));
  INFO(explicit_step.err);
  CHECK(explicit_step.exit_code == 1);
  CHECK(Contains(explicit_step.err, "checksum mismatch in chunk 1 of step 3"));
  CHECK(Contains(explicit_step.err, data));
  CHECK(ReadTextFile(out) == "old\n");
  CHECK_FALSE(std::filesystem::exists(out + ".tmp"));

  Run newest = f.Pccheck("export " + f.From() + " --format safetensors --out " + Quote(out));
  INFO(newest.err);
  REQUIRE(newest.exit_code == 0);
  CHECK(Contains(newest.err, "passed over damaged step 3"));
  CheckSafetensors(out, f.saved[2], 2);
}

TEST_CASE("safetensors refuses a dtype it has no code for; raw keeps it", "[cli]") {
  TempDir dir;
  const std::string root = dir.path() + "/store";
  SaveSteps(root, 1, [](uint64_t) {
    return std::vector<Saved>{{"z", "complex64", {2}, RandomBytes(16, 1)}};
  });
  const std::string from = "--root " + Quote(root) + " --job job --out " + Quote(dir.path() + "/z");
  Run st = Pccheck("export --format safetensors " + from, dir);
  CHECK(st.exit_code != 0);
  CHECK(Contains(st.err, "tensor 'z'"));
  CHECK(Contains(st.err, "complex64"));
  CHECK(Contains(st.err, "--format raw"));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/z"));
  Run raw = Pccheck("export --format raw " + from, dir);
  INFO(raw.err);
  CHECK(raw.exit_code == 0);
}

TEST_CASE("export and restore reject bad arguments with a message", "[cli]") {
  Fixture f;
  const std::string out = " --out " + Quote(f.Out("o"));
  struct Case {
    const char* what;
    std::string args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"no --format", "export " + f.From() + out, "--format"},
      {"an unknown format", "export " + f.From() + out + " --format npz", "npz"},
      {"no --job", "export --root " + Quote(f.root) + out + " --format raw", "--job"},
      {"no --out", "restore " + f.From(), "--out"},
      {"a step that is not a number", "restore " + f.From() + out + " --step last", "--step"},
      {"a store that does not exist",
       "export --root " + Quote(f.Out("nowhere")) + " --job job --format raw" + out,
       "no checkpoint store"},
      {"a job name that is not one", "restore --root " + Quote(f.root) + " --job ../x" + out,
       "job name"},
      {"--out in a missing directory",
       "export " + f.From() + " --format raw --out " + Quote(f.Out("no/such/file")),
       "does not exist"},
      {"a job with no checkpoints",
       "export --root " + Quote(f.root) + " --job other --format raw" + out,
       "the store holds job job (rank 0)"},
  };
  for (const Case& c : cases) {
    Run run = f.Pccheck(c.args);
    INFO(c.what << ": " << run.err);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, c.says));
    CHECK(run.out.empty());
  }
  CHECK_FALSE(std::filesystem::exists(f.Out("o")));
}

TEST_CASE("export and restore have a --help with an example", "[cli]") {
  TempDir dir;
  for (const char* cmd : {"export", "restore"}) {
    Run run = Pccheck(std::string(cmd) + " --help", dir);
    INFO(run.out);
    CHECK(run.exit_code == 0);
    CHECK(Contains(run.out, "Example: pccheck " + std::string(cmd)));
    CHECK(Contains(run.out, "safe while\npccheckd runs"));
  }
}

}  // namespace
}  // namespace pccheck::testing
