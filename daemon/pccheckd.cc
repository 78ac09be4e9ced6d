// pccheckd: the per-node checkpoint service.
//
// Start-up: parse the configuration, find the GPU (or serve host tensors
// only), lock the store (io/store_lock.h: refused while another daemon or a
// bench holds it), open it (recovering it), allocate the pinned pool, listen.
// SIGTERM/SIGINT: stop accepting, let in-flight checkpoints finish within
// shutdown-timeout, abandon the rest (never tearing the store), exit 0.
// Under systemd (Type=notify, server/sd_notify.h): READY=1 once the store is
// recovered and the socket listens, STATUS= lines, STOPPING=1 at shutdown,
// and WATCHDOG=1 while the pipeline makes progress (server/service_watchdog.h).
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "base/liveness.h"
#include "base/size_parse.h"
#include "config/settings.h"
#include "engine/engine.h"
#include "gpu/gpu.h"
#include "io/file_system.h"
#include "io/store_lock.h"
#include "server/server.h"
#include "service/crash_report.h"
#include "service/sd_notify.h"
#include "service/service_watchdog.h"

namespace pccheck {
namespace {

// What `systemctl status` shows while pccheckd runs.
std::string ServiceStatusLine(size_t sessions, const EngineStats& st) {
  return "serving " + std::to_string(sessions) + (sessions == 1 ? " session, " : " sessions, ") +
         std::to_string(st.inflight) + " in flight; " + std::to_string(st.saves_committed) +
         " committed, " + std::to_string(st.saves_failed) + " failed";
}

constexpr char kStopping[] = "stopping: letting checkpoints in flight commit";

// Without a watchdog, stalls are still reported in STATUS= after this long.
constexpr uint64_t kStallReportUs = 60'000'000;

void Tell(const ServiceNotifier& notifier, const std::string& state) {
  Status s = notifier.Notify(state);
  if (!s.ok()) spdlog::warn("telling systemd: {}", s.ToString());
}

int Run(const DaemonConfig& config) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("pccheckd"));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::info("pccheckd {} starting: store {}, pool {}, chunk {}, {} writers, max {} in flight",
               PCCHECK_VERSION, config.engine.root, FormatSize(config.engine.pool_bytes),
               FormatSize(config.engine.chunk_bytes), config.engine.writers,
               config.engine.max_inflight);

  // Signals are taken by one thread with sigwait; block them everywhere else
  // before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  InstallCrashReport("pccheckd");

  const ServiceNotifier notifier = ServiceNotifier::FromEnvironment();
  if (notifier.enabled()) {
    spdlog::info("service manager: notify socket {}, watchdog {}", notifier.socket(),
                 notifier.watchdog_usec() ? std::to_string(notifier.watchdog_usec() / 1000) + " ms"
                                          : std::string("off"));
  }
  Liveness liveness;  // outlives the engine and the server, whose threads report to it

  std::string why;
  std::unique_ptr<Gpu> gpu = NewCudaGpu(&why);
  if (!gpu) {
    spdlog::info("no usable GPU ({}): serving host-memory tensors only", why);
    gpu = NewFakeGpu(0);
  } else {
    spdlog::info("GPU: {}", gpu->Describe());
  }

  auto fs = NewPosixFileSystem();
  // One writer per store: held until the engine has shut down.
  Status root_dir = fs->CreateDirs(config.engine.root);
  if (!root_dir.ok()) {
    spdlog::critical("cannot create the store directory: {}", root_dir.ToString());
    return 1;
  }
  auto store_lock = StoreLock::TryAcquire(config.engine.root,
                                          StoreLockHolder{::getpid(), config.socket, "pccheckd"});
  if (!store_lock.ok()) {
    spdlog::critical("cannot start: {}", store_lock.status().message());
    return 1;
  }
  auto engine = Engine::Open(config.engine, fs.get(), gpu.get(), &DefaultClock(), &liveness);
  if (!engine.ok()) {
    spdlog::critical("cannot open the store: {}", engine.status().ToString());
    Tell(notifier, "STATUS=cannot open the store: " + engine.status().ToString());
    return 1;
  }
  Status dir = fs->CreateDirs(DirName(config.socket));
  if (!dir.ok()) {
    spdlog::critical("cannot create the socket directory: {}", dir.ToString());
    Tell(notifier, "STATUS=cannot create the socket directory: " + dir.ToString());
    return 1;
  }

  ServerOptions so;
  so.socket = config.socket;
  so.socket_mode = config.socket_mode;
  so.allow_uids.assign(config.allow_uids.begin(), config.allow_uids.end());
  so.allow_gids.assign(config.allow_gids.begin(), config.allow_gids.end());
  so.admin_gids.assign(config.admin_gids.begin(), config.admin_gids.end());
  so.limits.blob_slot_bytes = config.blob_slot_bytes;
  so.limits.blob_slots = static_cast<uint32_t>(config.engine.max_inflight) + 2;
  so.config_summary_json = ConfigJson(config);
  so.gpu = gpu.get();
  so.liveness = &liveness;
  auto server = Server::Start(so, engine->get(), gpu->DeviceCount() ? gpu->Describe() : "none");
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    Tell(notifier, "STATUS=" + server.status().ToString());
    return 1;
  }
  Server* const srv = server->get();
  Engine* const eng = engine->get();

  std::atomic<bool> stopping{false};
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stopping = true;
    Tell(notifier, std::string("STOPPING=1\nSTATUS=") + kStopping);
    srv->Stop();
  });

  // The store is recovered (Engine::Open) and the socket listens (Server::Start).
  spdlog::info("ready");
  Tell(notifier, "READY=1\nSTATUS=" + ServiceStatusLine(0, eng->Stats()));
  std::unique_ptr<ServiceWatchdog> watchdog;
  if (notifier.enabled()) {
    const uint64_t stall_us = notifier.watchdog_usec() ? notifier.watchdog_usec() : kStallReportUs;
    auto stalled = [&liveness, stall_us] { return liveness.Stalled(stall_us); };
    auto status = [srv, eng, &stopping] {
      std::string line = ServiceStatusLine(srv->Sessions().size(), eng->Stats());
      return stopping ? std::string(kStopping) + " (" + line + ")" : line;
    };
    watchdog =
        std::make_unique<ServiceWatchdog>(WatchdogTicker(&notifier, {stalled, status}),
                                          ServiceWatchdog::PeriodFor(notifier.watchdog_usec()));
  }
  srv->Run();
  // Wake the signal thread if Run ended on its own.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  watchdog.reset();  // its probe asks the server, which goes next
  server.value().reset();
  (*engine)->Shutdown(uint64_t{config.shutdown_timeout_s} * 1'000'000);
  auto st = (*engine)->Stats();
  spdlog::info("stopped: {} checkpoints committed, {} failed, {} abandoned", st.saves_committed,
               st.saves_failed, st.saves_superseded);
  return 0;
}

}  // namespace
}  // namespace pccheck

int main(int argc, char** argv) {
  int exit_code = 0;
  auto config = pccheck::ParseDaemonCommandLine(argc, argv, &exit_code);
  if (!config.ok()) {
    std::fprintf(stderr, "pccheckd: %s\n", config.status().message().c_str());
    return 2;
  }
  if (!config.value().has_value()) return exit_code;
  return pccheck::Run(**config);
}
