#include "worker_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "env_record.h"
#include "flat_json.h"

extern char** environ;

namespace dip {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPollMs = 100;                  // how often the host's abort is polled while waiting
constexpr double kDefaultTimeout = 300.0;     // seconds of silence before a worker counts as hung
constexpr double kStartTimeout = 120.0;       // at least this long to start (a cold torch import)
constexpr int kChildFd = 3;                   // the socket's number in the worker
constexpr size_t kMaxMessage = 1 << 20;

struct WorkerSession {
  uint64_t id;
};

// The one worker of this process. `io` guards the descriptor, the pid and every write;
// `request` makes renders take turns (only its holder reads replies or restarts the worker).
struct Worker {
  std::mutex io;
  std::timed_mutex request;
  pid_t pid = -1;
  int fd = -1;
  std::string inbox;  // bytes read but not yet a whole message
  uint64_t next_session = 1, next_request = 1;
} g_worker;

double timeout_seconds() {
  const char* text = std::getenv(kWorkerTimeoutVariable);
  double value = text ? std::atof(text) : 0.0;
  return value > 0.0 ? value : kDefaultTimeout;
}

void set_error(char* error, size_t size, const std::string& text) {
  if (error && size) std::snprintf(error, size, "%s", text.c_str());
}

// What the host's environment must not pass to the worker's Python and torch.
bool host_only_variable(const char* entry) {
  static const char* const kPrefixes[] = {"PYTHON", "LD_PRELOAD=", "LD_LIBRARY_PATH=", "LD_AUDIT=",
                                          "__PYVENV_LAUNCHER__="};
  for (const char* prefix : kPrefixes)
    if (std::strncmp(entry, prefix, std::strlen(prefix)) == 0) return true;
  return false;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = strsignal(sig);
    std::string text = "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
    // The worker asks the kernel to take it first when memory runs out (worker.py).
    if (sig == SIGKILL) text += "; if nobody killed it, the system ran out of memory: close other applications, "
                               "lower the render scale or render fewer frames at once";
    return text;
  }
  return "ended";
}

// Closes the connection and reaps the process (killing it first when `kill_it`); returns
// how it ended. Caller holds `request`.
std::string stop_worker(bool kill_it) {
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(g_worker.io);
    pid = g_worker.pid;
    if (g_worker.fd >= 0) close(g_worker.fd);
    g_worker.fd = -1;
    g_worker.pid = -1;
    g_worker.inbox.clear();
  }
  if (pid <= 0) return "ended";
  if (kill_it) kill(pid, SIGKILL);
  int status = 0;
  // A dying process closes its socket a moment before it can be reaped: wait up to 2 s.
  for (int i = 0; i < 200; ++i) {
    pid_t got = waitpid(pid, &status, kill_it ? 0 : WNOHANG);
    if (got == pid) return describe_exit(status);
    if (got < 0) return "ended";  // reaped by someone else (a host's SIGCHLD handler)
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return describe_exit(status);
}

// Sends one message (and a descriptor); false when the worker is gone.
bool send_message(const std::string& body, int pass_fd = -1) {
  std::lock_guard<std::mutex> lock(g_worker.io);
  if (g_worker.fd < 0) return false;
  const uint32_t size = static_cast<uint32_t>(body.size());
  std::string bytes(reinterpret_cast<const char*>(&size), 4);  // little-endian on every Linux target
  bytes += body;
  msghdr msg{};
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = sent == 0 ? sendmsg(g_worker.fd, &msg, MSG_NOSIGNAL)
                          : send(g_worker.fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Takes one whole message from the inbox, if there is one.
bool next_message(std::map<std::string, std::string>& message, bool& malformed) {
  std::string& in = g_worker.inbox;
  malformed = false;
  if (in.size() < 4) return false;
  uint32_t size = 0;
  std::memcpy(&size, in.data(), 4);
  if (size > kMaxMessage) return malformed = true, false;
  if (in.size() < 4 + size) return false;
  const std::string body = in.substr(4, size);
  in.erase(0, 4 + size);
  message.clear();
  if (!parse_flat_json(body, message)) return malformed = true, false;
  return true;
}

// Waits up to `ms` for bytes from the worker. Returns false when the connection ended.
bool receive(int ms) {
  pollfd p{g_worker.fd, POLLIN, 0};
  int ready = poll(&p, 1, ms);
  if (ready < 0) return errno == EINTR;
  if (ready == 0) return true;
  char buf[65536];
  ssize_t n = recv(g_worker.fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  g_worker.inbox.append(buf, static_cast<size_t>(n));
  return true;
}

// Polls the host's abort (and shows the fraction); true when the host wants to stop.
bool host_aborted(const DipRenderRequest* request, double fraction) {
  return request->progress && request->progress(request->progress_context, fraction) != 0;
}

enum class Wait { ok, aborted, failed };

// Starts the worker from the recorded environment and waits for its "ready".
Wait start_worker(const DipRenderRequest* request, std::string& error) {
  const std::string record_path = environment_record_path();
  if (record_path.empty()) {
    error = "no Python environment is recorded for this plugin. Run `ofx-dipmatte install-plugin` from the Python "
            "environment where ofx_dipmatte is installed (or set OFX_DIPMATTE_ENV to a python_env.cfg)";
    return Wait::failed;
  }
  EnvRecord record;
  if (!read_env_record(record_path, record, error)) return Wait::failed;
  const std::string python = record.get("executable");
  if (python.empty() || access(python.c_str(), X_OK) != 0) {
    error = "the recorded Python " + (python.empty() ? std::string("(none)") : python) +
            " cannot be run; run `ofx-dipmatte install-plugin` again from the environment where ofx_dipmatte "
            "is installed";
    return Wait::failed;
  }

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = std::string("cannot create a socket: ") + std::strerror(errno);
    return Wait::failed;
  }
  int child = fds[1];
  if (child == kChildFd) {  // dup2 onto itself would keep close-on-exec set
    child = fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
    close(fds[1]);
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e)
    if (!host_only_variable(*e)) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string fd_arg = std::to_string(kChildFd);
  std::vector<std::string> args = {python, "-I", "-m", "ofx_dipmatte.worker", "--fd", fd_arg};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child, kChildFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: the terminal's Ctrl-C is the host's
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, python.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(child);
  if (spawned != 0) {
    close(fds[0]);
    error = "cannot start " + python + ": " + std::strerror(spawned);
    return Wait::failed;
  }
  {
    std::lock_guard<std::mutex> lock(g_worker.io);
    g_worker.pid = pid;
    g_worker.fd = fds[0];
    g_worker.inbox.clear();
  }

  // Importing torch takes seconds; the host may abort meanwhile.
  const double timeout = std::max(timeout_seconds(), kStartTimeout);
  const auto start = Clock::now();
  std::map<std::string, std::string> message;
  bool malformed = false;
  while (true) {
    if (!receive(kPollMs)) {
      error = "the engine process " + python + " " + stop_worker(false) + " while starting (its messages are in "
              "the host's terminal output). Run `ofx-dipmatte doctor` in a terminal";
      return Wait::failed;
    }
    if (next_message(message, malformed)) {
      if (message["op"] == "ready") {
        if (message["version"] == DIP_VERSION_LABEL) return Wait::ok;
        // Another release of the package behind the recorded Python: its protocol may differ.
        stop_worker(true);
        error = std::string("this plugin is from ofx_dipmatte ") + DIP_VERSION_LABEL + " but the engine process " +
                python + " runs " + (message["version"].empty() ? "an unknown version" : message["version"]) +
                ": run `ofx-dipmatte install-plugin` again from that environment, then restart the host";
        return Wait::failed;
      }
      if (message["op"] == "fatal") {
        stop_worker(false);
        error = message["message"] + ". Run `ofx-dipmatte doctor` in a terminal";
        return Wait::failed;
      }
    } else if (malformed) {
      stop_worker(true);
      error = "the engine process " + python + " does not speak the worker protocol (is ofx_dipmatte in that "
              "environment the same version as this plugin? run `ofx-dipmatte install-plugin` again)";
      return Wait::failed;
    }
    if (host_aborted(request, 0.0)) {
      // Let it finish starting in the background? No: a half-started worker would hold a
      // request slot. Stop it; the next render starts a new one.
      stop_worker(true);
      return Wait::aborted;
    }
    if (std::chrono::duration<double>(Clock::now() - start).count() > timeout) {
      stop_worker(true);
      error = "the engine process did not start within " + std::to_string(static_cast<int>(timeout)) +
              " s (set " + kWorkerTimeoutVariable + " to wait longer)";
      return Wait::failed;
    }
  }
}

std::string image_json(const DipImage& image, size_t offset) {
  if (image.data == nullptr) return "null";
  return "{\"offset\":" + std::to_string(offset) + ",\"width\":" + std::to_string(image.width) +
         ",\"height\":" + std::to_string(image.height) + ",\"channels\":" + std::to_string(image.channels) +
         ",\"dtype\":" + json_string(image.dtype) + "}";
}

size_t image_bytes(const DipImage& image) {
  if (image.data == nullptr) return 0;
  const size_t channel = std::strcmp(image.dtype, "uint8") == 0 ? 1 : std::strcmp(image.dtype, "uint16") == 0 ? 2 : 4;
  return static_cast<size_t>(image.width) * image.height * image.channels * channel;
}

size_t aligned(size_t n) { return (n + 63) & ~static_cast<size_t>(63); }

std::string params_json(const DipParams& p) {
  return "{\"preset\":" + json_string(p.preset) + ",\"max_iterations\":" + std::to_string(p.max_iterations) +
         ",\"loss_threshold\":" + json_number(p.loss_threshold) + ",\"seed\":" + std::to_string(p.seed) +
         ",\"device\":" + json_string(p.device) + ",\"trimap_source\":" + json_string(p.trimap_source) +
         ",\"band\":" + json_number(p.band) + ",\"render_scale\":" + json_number(p.render_scale) +
         ",\"output_mode\":" + json_string(p.output_mode) +
         ",\"source_premultiplied\":" + (p.source_premultiplied ? "true" : "false") +
         ",\"independent_frames\":" + (p.independent_frames ? "true" : "false") +
         ",\"keep_smooth_mattes\":" + (p.keep_smooth_mattes ? "true" : "false") +
         ",\"show_only\":" + (p.show_only ? "true" : "false") + "}";
}

// A memfd holding the request's images, mapped here; unmapped when it goes.
struct SharedFrame {
  int fd = -1;
  void* base = MAP_FAILED;
  size_t size = 0;
  size_t source = 0, guide = 0, clean_plate = 0, output = 0;  // offsets

  bool create(const DipRenderRequest& r, std::string& error) {
    guide = aligned(image_bytes(r.source));
    clean_plate = guide + aligned(image_bytes(r.guide));
    output = clean_plate + aligned(image_bytes(r.clean_plate));
    size = output + image_bytes(r.output);
    fd = memfd_create("ofx_dipmatte.frame", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0 ||
        (base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
      error = std::string("cannot create shared memory for the frame: ") + std::strerror(errno);
      return false;
    }
    std::memcpy(at(source), r.source.data, image_bytes(r.source));
    if (r.guide.data) std::memcpy(at(guide), r.guide.data, image_bytes(r.guide));
    if (r.clean_plate.data) std::memcpy(at(clean_plate), r.clean_plate.data, image_bytes(r.clean_plate));
    return true;
  }
  unsigned char* at(size_t offset) { return static_cast<unsigned char*>(base) + offset; }
  ~SharedFrame() {
    if (base != MAP_FAILED) munmap(base, size);
    if (fd >= 0) close(fd);
  }
};

// ---------------------------------------------------------------------------------
// The Runtime functions

void* session_create(char*, size_t) {
  std::lock_guard<std::mutex> lock(g_worker.io);
  return new WorkerSession{g_worker.next_session++};
}

void session_destroy(void* session) {
  auto* s = static_cast<WorkerSession*>(session);
  if (!s) return;
  send_message("{\"op\":\"close\",\"session\":" + std::to_string(s->id) + "}");  // no worker: nothing to close
  delete s;
}

void session_purge(void* session) {
  auto* s = static_cast<WorkerSession*>(session);
  if (s) send_message("{\"op\":\"purge\",\"session\":" + std::to_string(s->id) + "}");
}

int render(void* session, const DipRenderRequest* request, char* error, size_t error_size) {
  auto* s = static_cast<WorkerSession*>(session);
  if (!s || !request) {
    set_error(error, error_size, "ofx_dipmatte: no session (a bug)");
    return DIP_FAILED;
  }
  // Renders of all instances take turns in the one worker; waiting ones still honour abort.
  std::unique_lock<std::timed_mutex> turn(g_worker.request, std::defer_lock);
  while (!turn.try_lock_for(std::chrono::milliseconds(kPollMs)))
    if (host_aborted(request, 0.0)) return DIP_CANCELLED;

  std::string problem;
  SharedFrame frame;
  if (!frame.create(*request, problem)) {
    set_error(error, error_size, "ofx_dipmatte: " + problem);
    return DIP_OUT_OF_MEMORY;
  }
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(g_worker.io);
    id = g_worker.next_request++;
  }
  char time_text[32];
  std::snprintf(time_text, sizeof time_text, "%g", request->time);
  const std::string body =
      "{\"op\":\"render\",\"id\":" + std::to_string(id) + ",\"session\":" + std::to_string(s->id) +
      ",\"time\":" + json_number(request->time) + ",\"params\":" + params_json(request->params) +
      ",\"source\":" + image_json(request->source, frame.source) + ",\"guide\":" +
      image_json(request->guide, frame.guide) + ",\"clean_plate\":" +
      image_json(request->clean_plate, frame.clean_plate) + ",\"output\":" + image_json(request->output, frame.output) +
      "}";

  // A worker that died while idle is replaced silently: no render was lost.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (g_worker.fd < 0) {
      Wait started = start_worker(request, problem);
      if (started == Wait::aborted) return DIP_CANCELLED;
      if (started == Wait::failed) {
        set_error(error, error_size, "ofx_dipmatte: cannot start the engine process: " + problem);
        return DIP_FAILED;
      }
    }
    if (send_message(body, frame.fd)) break;
    stop_worker(false);
    if (attempt == 1) {
      set_error(error, error_size, "ofx_dipmatte: the engine process closed its connection; try again");
      return DIP_FAILED;
    }
  }

  const pid_t pid = g_worker.pid;
  const double timeout = timeout_seconds();
  auto last_heard = Clock::now();
  double fraction = 0.0;
  std::map<std::string, std::string> message;
  bool malformed = false;
  while (true) {
    if (!receive(kPollMs)) {
      const std::string how = stop_worker(false);
      set_error(error, error_size,
                "ofx_dipmatte: the engine process (pid " + std::to_string(pid) + ") " + how +
                    " while rendering frame " + time_text +
                    ". The next render starts a new one; if this repeats, run `ofx-dipmatte doctor`, try the "
                    "Draft quality, or look for the worker's messages in the host's terminal output");
      return DIP_FAILED;
    }
    while (next_message(message, malformed)) {
      last_heard = Clock::now();
      if (message["id"] != std::to_string(id)) continue;  // a reply to a request the host aborted
      if (message["op"] == "progress") {
        fraction = std::atof(message["fraction"].c_str());
        if (host_aborted(request, fraction)) {
          send_message("{\"op\":\"cancel\",\"id\":" + std::to_string(id) + "}");
          return DIP_CANCELLED;
        }
      } else if (message["op"] == "done") {
        const std::string status = message["status"];
        if (status == "ok") {
          if (request->output.data)  // absent when only showing a frame
            std::memcpy(request->output.data, frame.at(frame.output), image_bytes(request->output));
          set_error(error, error_size, message["message"]);  // the engine's warnings, or ""
          return DIP_OK;
        }
        set_error(error, error_size, message["message"]);
        if (status == "cancelled") return DIP_CANCELLED;
        if (status == "input") return DIP_BAD_INPUT;
        return status == "memory" ? DIP_OUT_OF_MEMORY : DIP_FAILED;
      }
    }
    if (malformed) {
      stop_worker(true);
      set_error(error, error_size, "ofx_dipmatte: the engine process sent a malformed message and was stopped");
      return DIP_FAILED;
    }
    if (host_aborted(request, fraction)) {
      send_message("{\"op\":\"cancel\",\"id\":" + std::to_string(id) + "}");
      return DIP_CANCELLED;
    }
    if (std::chrono::duration<double>(Clock::now() - last_heard).count() > timeout) {
      stop_worker(true);
      set_error(error, error_size,
                "ofx_dipmatte: the engine process (pid " + std::to_string(pid) + ") stopped responding for " +
                    std::to_string(static_cast<int>(timeout)) + " s while rendering frame " + time_text +
                    " and was stopped. The next render starts a new one (" + kWorkerTimeoutVariable +
                    " sets how long to wait)");
      return DIP_FAILED;
    }
  }
}

}  // namespace

const Runtime* worker_runtime() {
  static const Runtime runtime{session_create, session_destroy, session_purge, render};
  return &runtime;
}

}  // namespace dip
