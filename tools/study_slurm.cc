// joule study slurm: a study's shards as a Slurm job array. Prints the batch script; with --submit
// submits the shards whose cells are not all stored yet, and with --wait follows the job in
// squeue, merges the shard databases into the study's database and names the shards that failed
// (exit status and log). docs/studies.md "Many machines".
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common.h"
#include "paths.h"
#include "study/results_db.h"
#include "study/spec.h"

namespace joule::cli {
namespace {
namespace fs = std::filesystem;

struct SlurmOptions {
  std::string file;
  int shards = 4;
  std::string db = "results/joule.db";  // the study's database: --wait merges the shards into it
  std::string db_dir = "results/shards";
  std::string time = "04:00:00";
  int cpus = 0;  // 0: leave to the cluster's default
  std::string partition;
  std::string gres;  // "gpu:1": one device per shard instead of a whole node
  bool submit = false;
  bool wait = false;
  double poll_s = 2;
};

// `s` quoted for bash.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string job_name(const study::StudySpec& spec) { return "joule-" + spec.name; }
std::string shard_db(const SlurmOptions& o, int i) { return o.db_dir + "/shard-" + std::to_string(i) + ".db"; }
std::string shard_exit(const SlurmOptions& o, int i) { return o.db_dir + "/shard-" + std::to_string(i) + ".exit"; }
std::string shard_log(const SlurmOptions& o, const study::StudySpec& spec, int i) {
  return o.db_dir + "/" + job_name(spec) + "-" + std::to_string(i) + ".log";
}

std::string batch_script(const study::StudySpec& spec, const SlurmOptions& o) {
  const std::string joule = executable_path().empty() ? "joule" : executable_path();
  std::string s = "#!/bin/bash\n# joule study " + spec.name + ": " + std::to_string(study::expand(spec).size()) + " cells in " +
                  std::to_string(o.shards) + " shards. Submit with: sbatch THIS_FILE (or joule study slurm --submit)\n";
  s += "#SBATCH --job-name=" + job_name(spec) + "\n#SBATCH --array=1-" + std::to_string(o.shards) + "\n#SBATCH --time=" +
       o.time + "\n";
  // A cell's energy window measures whole devices (a GPU's NVML counter, a CPU package's RAPL):
  // two cells on one device would each count the other's work. So a shard gets a whole node, or
  // with --gres its own GPUs.
  s += o.gres.empty() ? "#SBATCH --exclusive\n" : "#SBATCH --gres=" + o.gres + "\n";
  if (o.cpus > 0) s += "#SBATCH --cpus-per-task=" + std::to_string(o.cpus) + "\n";
  if (!o.partition.empty()) s += "#SBATCH --partition=" + o.partition + "\n";
  s += "#SBATCH --output=" + o.db_dir + "/%x-%a.log\nset -uo pipefail\nmkdir -p " + quoted(o.db_dir) + "\nrc=0\n";
  s += quoted(joule) + " study run " + quoted(o.file) + " --shard \"$SLURM_ARRAY_TASK_ID/" + std::to_string(o.shards) +
       "\" --db " + quoted(o.db_dir) + "/shard-\"$SLURM_ARRAY_TASK_ID\".db || rc=$?\n";
  s += "echo \"$rc\" > " + quoted(o.db_dir) + "/shard-\"$SLURM_ARRAY_TASK_ID\".exit\nexit \"$rc\"\n";
  s += "# When every shard is done: joule study merge " + o.db + " " + o.db_dir + "/shard-*.db\n";
  return s;
}

// Runs argv, returning its exit status and standard output (standard error passes through).
Expected<std::pair<int, std::string>> capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return IoError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return IoError("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, size_t(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (rc == 127) return NotFound(argv[0] + " is not installed or not on PATH (is this a Slurm submit host?)");
  return std::pair(rc, out);
}

// Per shard (1-based), the cells of its part of the grid that neither the study's database nor the
// shard's own holds.
Expected<std::map<int, int>> missing_cells(const study::StudySpec& spec, const SlurmOptions& o, study::ResultsDb& db) {
  const std::vector<study::Cell> grid = study::expand(spec);
  std::map<int, int> missing;
  for (int i = 1; i <= o.shards; ++i) {
    std::unique_ptr<study::ResultsDb> own;
    if (fs::exists(shard_db(o, i))) {
      JOULE_ASSIGN_OR_RETURN(own, study::ResultsDb::open_existing(shard_db(o, i)));
    }
    for (const study::Cell& c : study::take_shard(grid, {i - 1, o.shards})) {
      JOULE_ASSIGN_OR_RETURN(bool stored, db.has_cell(spec.name, c.key()));
      if (!stored && own) {
        JOULE_ASSIGN_OR_RETURN(stored, own->has_cell(spec.name, c.key()));
      }
      if (!stored) ++missing[i];
    }
  }
  return missing;
}

// Follows the job in squeue until none of its tasks is left, printing a line when the counts change.
Status follow(const std::string& job, double poll_s) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string last;
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(auto r, capture({"squeue", "-h", "-r", "-j", job, "-o", "%T"}));
    std::map<std::string, int> states;
    size_t at = 0;
    for (size_t nl; (nl = r.second.find('\n', at)) != std::string::npos; at = nl + 1)
      if (nl > at) ++states[r.second.substr(at, nl - at)];
    if (r.first != 0 || states.empty()) return Status();  // gone from the queue (squeue forgets finished jobs)
    std::string line;
    for (const auto& [state, n] : states) line += (line.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    if (line != last) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[joule study slurm] job %s: %s (%.0f s)\n", job.c_str(), line.c_str(), s);
      last = line;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
  }
}

int slurm_cmd(const SlurmOptions& o) {
  auto spec = study::load_study(o.file);
  if (!spec.ok()) return report_error(spec.status());
  if (o.shards < 1) return report_error(InvalidArgument("--shards must be >= 1"));
  if (o.wait && !o.submit) return report_error(InvalidArgument("--wait needs --submit"));
  const std::string script = batch_script(*spec, o);
  if (!o.submit) {
    std::printf("%s", script.c_str());
    return 0;
  }
  std::error_code ec;
  fs::create_directories(o.db_dir, ec);
  if (!fs::path(o.db).parent_path().empty()) fs::create_directories(fs::path(o.db).parent_path(), ec);
  auto db = study::ResultsDb::open(o.db);
  if (!db.ok()) return report_error(db.status());
  auto missing = missing_cells(*spec, o, **db);
  if (!missing.ok()) return report_error(missing.status());
  if (missing->empty()) {
    std::printf("study %s: every cell of the %d shards is stored already (%s, %s); nothing to submit\n", spec->name.c_str(),
                o.shards, o.db.c_str(), o.db_dir.c_str());
  } else {
    const std::string path = o.db_dir + "/" + spec->name + ".sbatch";
    if (!(std::ofstream(path) << script)) return report_error(IoError("cannot write " + path));
    std::string array;
    for (const auto& [i, n] : *missing) {
      array += (array.empty() ? "" : ",") + std::to_string(i);
      fs::remove(shard_exit(o, i), ec);  // a resubmitted shard's old status would be read as its new one
    }
    auto sub = capture({"sbatch", "--parsable", "--array=" + array, path});
    if (!sub.ok()) return report_error(sub.status());
    if (sub->first != 0) return report_error(IoError("sbatch " + path + " failed with exit status " + std::to_string(sub->first)));
    const std::string job = sub->second.substr(0, sub->second.find_first_of(";\n"));
    std::fprintf(stderr, "[joule study slurm] submitted job %s: shard%s %s of %d (script %s, logs %s/%s-N.log)\n", job.c_str(),
                 missing->size() == 1 ? "" : "s", array.c_str(), o.shards, path.c_str(), o.db_dir.c_str(),
                 job_name(*spec).c_str());
    if (!o.wait) {
      std::printf("%s\n", job.c_str());
      std::fprintf(stderr, "[joule study slurm] when it is done: joule study merge %s %s/shard-*.db (or rerun with --wait)\n",
                   o.db.c_str(), o.db_dir.c_str());
      return 0;
    }
    if (Status s = follow(job, o.poll_s); !s.ok()) return report_error(s);
  }
  if (!o.wait) return 0;
  int merged = 0;
  for (int i = 1; i <= o.shards; ++i) {
    if (!fs::exists(shard_db(o, i))) continue;
    auto added = (*db)->merge_from(shard_db(o, i));
    if (!added.ok()) return report_error(added.status());
    merged += *added;
  }
  auto still = missing_cells(*spec, o, **db);
  if (!still.ok()) return report_error(still.status());
  const size_t total = study::expand(*spec).size();
  for (const auto& [i, n] : *still) {
    std::ifstream exit_file(shard_exit(o, i));
    std::string rc;
    const std::string how = std::getline(exit_file, rc) ? "exited with status " + rc
                                                        : "no exit status: cancelled, killed or never started";
    std::fprintf(stderr, "[joule study slurm] shard %d/%d: %d cell%s missing; %s (log: %s)\n", i, o.shards, n,
                 n == 1 ? "" : "s", how.c_str(), shard_log(o, *spec, i).c_str());
  }
  int missing_total = 0;
  for (const auto& [i, n] : *still) missing_total += n;
  std::printf("study %s: %zu of %zu cells stored in %s (%d merged from the shards now)%s\n", spec->name.c_str(),
              total - size_t(missing_total), total, o.db.c_str(), merged,
              still->empty() ? "" : "; rerun the same command to submit the unfinished shards again");
  return still->empty() ? 0 : 1;
}

}  // namespace

void register_study_slurm(CLI::App* study, Action& action) {
  auto so = std::make_shared<SlurmOptions>();
  CLI::App* slurm = study->add_subcommand("slurm", "run a study's shards as a Slurm job array (print, submit, wait, merge)");
  slurm->add_option("file", so->file, "study file (TOML)")->required();
  slurm->add_option("--shards", so->shards, "array size: one shard per task")->capture_default_str();
  slurm->add_option("--db", so->db, "the study's database, which --wait merges the shards into")->capture_default_str();
  slurm->add_option("--db-dir", so->db_dir, "folder of the shard databases, exit statuses and logs")->capture_default_str();
  slurm->add_option("--time", so->time, "time limit per shard")->capture_default_str();
  slurm->add_option("--cpus", so->cpus, "cpus per task (match the study's thread counts)");
  slurm->add_option("--partition", so->partition, "Slurm partition");
  slurm->add_option("--gres", so->gres, "generic resources per shard, e.g. gpu:1 (default: a whole node, --exclusive)");
  slurm->add_flag("--submit", so->submit, "submit the shards whose cells are not all stored (sbatch)");
  slurm->add_flag("--wait", so->wait, "with --submit: follow the job, merge the shards into --db, name failed shards");
  slurm->add_option("--poll-s", so->poll_s, "seconds between squeue polls")->capture_default_str();
  slurm->footer("Exit status with --wait: 0 when every cell is stored in --db, 1 when some shard left cells missing (each\n"
                "is named with its exit status and log; rerunning the command submits only those shards again).");
  slurm->callback([so, &action] { action = [so] { return slurm_cmd(*so); }; });
}

}  // namespace joule::cli
