#!/usr/bin/env bash
# ctest-labels: slow
# Every command in README.md and docs/*.md runs and exits as the page says, so none goes
# stale (conventions in docs/testbeds.md, "The docs test"):
#   ```sh      run, one command a line (`\` continues), all of a page in one shell, in a
#              scratch copy of the repository root (examples/ copied, build -> the build
#              tree, ddpc on PATH); exit 0 or the code of a trailing `# exit N`; lines that
#              start with `bash .ci/setup` are CI's own and skipped.
#   ```yaml    `# file: PATH` first: written to PATH before the commands after it run; a
#              complete config (data: and model:) must pass `ddpc graph`.
#   ```console shown, not run (GPU, several hosts, Slurm): each command starts with a
#              known program.
#   everywhere (blocks and inline code): `ddpc SUB` is a subcommand and every --option
#              after it appears in `ddpc SUB --help`.
#   prose      a source file in inline code with its folder (`core/model.c`) exists.
#              Relative links reach a file, and their #anchor one of its headings.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
export OMPI_MCA_rmaps_base_oversubscribe=1  # the pages' mpirun -n 2 on any machine, no flag
bin="$T_DIR/bin"
mkdir -p "$bin"
ln -s "$DDPC" "$bin/ddpc"
build=${DDPC_BUILD_DIR:-}
if [ -z "$build" ] || [ ! -x "$build/bin/ddpc" ]; then  # no build tree: a stand-in with bin/ddpc
  build="$T_DIR/build"
  mkdir -p "$build/bin"
  ln -s "$DDPC" "$build/bin/ddpc"
fi

# The checks and the generated per-page scripts; prints "ok WHAT" / "FAILED WHAT" lines and,
# per page to run, "run PAGE SCRIPT".
python3 - "$DDPC_SOURCE_DIR" "$T_DIR" "$DDPC" >"$T_DIR/plan" <<'PY'
import os, re, shlex, subprocess, sys

src, tdir, ddpc = sys.argv[1:4]
pages = ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
STATIC_ONLY = {"docs/fuzzing.md"}  # its commands build with clang (docs/fuzzing.md's owner may tag them)
SUBS = ["train", "resume", "inspect", "graph", "launch", "submit", "tune", "export", "predict", "split", "mlflow"]
PROGRAMS = {"ddpc", "mpirun", "mpiexec", "srun", "sbatch", "squeue", "scancel", "scontrol", "cmake", "ctest",
            "bash", "sudo", "cc", "dot", "python3", "mkdir", "cp"}
STOP = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "<", ")"}

def say(ok, what):
    print(("ok " if ok else "FAILED ") + what.replace("\n", " "))

helps = {}
def help_of(sub):
    if sub not in helps:
        r = subprocess.run([ddpc, sub, "--help"], capture_output=True, text=True)
        helps[sub] = r.stdout if r.returncode == 0 else None
        say(r.returncode == 0, f"`ddpc {sub} --help` exits 0")
    return helps[sub]

def words(text):
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in prose or a usage line
        return text.split()

def check_ddpc_words(where, text):
    """Each `ddpc SUB --opt...` in text: SUB exists, each --opt is in `ddpc SUB --help`."""
    toks = words(text)
    for i, t in enumerate(toks):
        if not (t == "ddpc" or t.endswith("/bin/ddpc")) or i + 1 >= len(toks):
            continue
        sub = toks[i + 1]
        if sub.startswith("-"):
            say(sub in ("--help", "-h", "--version"), f"{where}: `ddpc {sub}` is a ddpc option")
            continue
        if not re.fullmatch(r"[a-z]+", sub):
            continue  # `ddpc train:` in a message, `ddpc CMD`, ...
        if sub not in SUBS:
            say(False, f"{where}: `ddpc {sub}` is not a subcommand")
            continue
        text_help = help_of(sub)
        if text_help is None:
            continue
        depth, skip = 0, False
        for t2 in toks[i + 2:]:
            depth += t2.count("[") - t2.count("]")
            if t2 in STOP and depth <= 0 or t2.startswith((">", "2>", "|")) or t2 == "ddpc":
                break
            if skip:
                skip = False
                continue
            opt = t2.strip("[]().,;:")
            if opt.startswith("--") and len(opt) > 2:
                name = opt.split("=", 1)[0]
                if name == "--mpirun-arg" and "=" not in opt:
                    skip = True  # its value is mpirun's, not ddpc's
                if not re.search(r"(^|[\s\[|(,])" + re.escape(name) + r"(?![\w-])", text_help):
                    say(False, f"{where}: `ddpc {sub} {name}`: not in `ddpc {sub} --help`")

def blocks(lines):
    """(tag, first line number, body lines) of every fenced block."""
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body, i = i + 1, [], i + 1
        while i < len(lines) and not re.match(r"^```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        out.append((m.group(1), start + 1, body))
        i += 1
    return out

def commands(start, body, continuation):
    """Logical command lines with their line numbers: `\\` joins (sh), indentation joins (text)."""
    out = []
    for k, line in enumerate(body):
        if continuation == "indent" and out and line[:1].isspace() and line.strip():
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif continuation == "backslash" and out and out[-1][1].endswith("\\"):
            out[-1] = (out[-1][0], out[-1][1][:-1] + " " + line.strip())
        elif line.strip() and not line.lstrip().startswith("#"):
            out.append((start + k, line.rstrip()))
    return out

total_run = 0
for page in pages:
    path = os.path.join(src, page)
    lines = open(path, encoding="utf-8").read().split("\n")
    run = page not in STATIC_ONLY
    script, n_cmds, n_yaml = [], 0, 0
    work = os.path.join(tdir, "work", page.replace("/", "_").replace(".md", ""))
    in_block = set()
    for tag, start, body in blocks(lines):
        for k in range(start - 2, start + len(body)):  # the fences too (0-based)
            in_block.add(k)
        where = f"{page}:{start}"
        if tag == "sh":
            for ln, cmd in commands(start, body, "backslash"):
                m = re.search(r"\s#\s*exit\s+(\d+)\s*$", cmd)
                want = int(m.group(1)) if m else 0
                if want != 2:  # a usage error on purpose may name what does not exist
                    check_ddpc_words(f"{page}:{ln}", cmd)
                if cmd.startswith("bash .ci/setup"):
                    continue  # CI runs these itself (.ci/run)
                if run:
                    script.append(f"__docs_run {shlex.quote(f'{page}:{ln}')} {want} {shlex.quote(cmd)}")
                    n_cmds += 1
        elif tag == "console":
            for ln, cmd in commands(start, body, "backslash"):
                toks = words(cmd)
                while toks and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", toks[0]):
                    toks = toks[1:]  # `CC=clang cmake ...`: the program follows the environment
                prog = toks[0] if toks else ""
                # a program the docs built (build*/...) or ddpc itself
                known = prog in PROGRAMS or prog.endswith("/bin/ddpc") or re.match(r"build[\w-]*/", prog)
                say(known, f"{page}:{ln}: console command starts with a known program ({prog})")
                check_ddpc_words(f"{page}:{ln}", cmd)
        elif tag in ("text", ""):
            for ln, cmd in commands(start, body, "indent"):
                check_ddpc_words(f"{page}:{ln}", cmd)
        elif tag == "yaml":
            m = re.match(r"#\s*file:\s*(\S+)\s*$", body[0]) if body else None
            top = {re.match(r"^([A-Za-z_]+):", l).group(1) for l in body if re.match(r"^[A-Za-z_]+:", l)}
            target = m.group(1) if m else None
            complete = "data" in top and "model" in top
            if not run or not (target or complete):
                continue
            if not target:
                n_yaml += 1
                target = f"examples/docs_block_{n_yaml}.yaml"  # beside examples/data
            text = "\n".join(body) + "\n"
            script.append(f"mkdir -p {shlex.quote(os.path.dirname(target) or '.')} && "
                          f"printf '%s' {shlex.quote(text)} > {shlex.quote(target)}")
            if complete:
                script.append(f"__docs_run {shlex.quote(f'{where} (ddpc graph)')} 0 "
                              f"{shlex.quote('ddpc graph ' + shlex.quote(target) + ' > /dev/null')}")
                n_cmds += 1
    paragraphs, cur = [], None  # inline code in prose, by paragraph: a span may wrap lines
    for ln, line in enumerate(lines, 1):
        if ln - 1 in in_block or not line.strip():
            cur = None
            continue
        if cur is None:
            cur = [ln, ""]
            paragraphs.append(cur)
        cur[1] += " " + line.strip()
    for ln, text in paragraphs:
        # Relative links reach a file, and a #part one of its headings (GitHub's anchors).
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            fpart, _, anchor = target.partition("#")
            fpath = os.path.normpath(os.path.join(os.path.dirname(path), fpart)) if fpart else path
            rel = os.path.relpath(fpath, src)
            if not os.path.exists(fpath):
                say(rel in STATIC_ONLY, f"{page}:{ln}: link to {target}: no such file"
                    + (" (not written yet)" if rel in STATIC_ONLY else ""))
                continue
            if anchor and fpath.endswith(".md"):
                heads = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                         for h in re.findall(r"^#+\s+(.*)$", open(fpath, encoding="utf-8").read(), re.M)}
                say(anchor in heads, f"{page}:{ln}: link to {target}: a heading of {rel}")
        # Source files named with their folder exist (a file that moved is renamed here too).
        for f in re.findall(r"`((?:core|comm|optim|launch|tune|tests|bench|examples|cmake|\.ci)/[\w./-]+\.(?:c|h|cu|sh|py))`", text):
            say(os.path.exists(os.path.join(src, f)), f"{page}:{ln}: `{f}` exists")
        for span in re.findall(r"(`+)(.+?)\1", text):
            if re.match(r"(\S*/bin/)?ddpc\s", span[1].strip()):
                check_ddpc_words(f"{page}:{ln} (inline)", span[1].strip())
    if script:
        os.makedirs(work, exist_ok=True)
        spath = os.path.join(tdir, "work", os.path.basename(work) + ".bash")
        with open(spath, "w") as f:
            f.write("\n".join(script) + "\n")
        print(f"run {page} {work} {spath} {n_cmds}")
        total_run += n_cmds
print(f"total {total_run}")
PY
t_check "the plan was made" test -s "$T_DIR/plan"

while read -r status what; do
  case $status in
    ok) t_ok ;;
    FAILED) t_fail "$what" ;;
  esac
done <"$T_DIR/plan"

# __docs_run WHERE EXPECTED COMMAND: in the page's shell (exports and cd carry over).
cat >"$T_DIR/lib.bash" <<'EOF'
__docs_run() {
  local __where=$1 __want=$2 __cmd=$3 __rc __t0=$SECONDS
  echo "+ $__cmd" >"$__DOCS_LOG"
  eval "$__cmd" </dev/null >>"$__DOCS_LOG" 2>&1
  __rc=$?
  if [ "$__rc" -eq "$__want" ]; then
    echo "ok $__where ($((SECONDS - __t0)) s)"
  else
    echo "FAILED $__where: exit code $__rc, expected $__want: $__cmd"
    tail -n 15 "$__DOCS_LOG" | sed 's/^/    /'
  fi
}
EOF

ran=0
while read -r kind page work script n; do
  [ "$kind" = run ] || continue
  mkdir -p "$work"
  cp -r "$DDPC_SOURCE_DIR/examples" "$work/examples"
  ln -s "$build" "$work/build"
  start=$SECONDS
  (
    cd "$work" || exit 1
    export PATH="$bin:$PATH" __DOCS_LOG="$T_DIR/last.log"
    timeout -k 5 300 bash -c 'source "$1"; source "$2"' docs "$T_DIR/lib.bash" "$script"
  ) >"$T_DIR/page.out" 2>&1
  rc=$?
  while IFS= read -r line; do
    case $line in
      "ok "*) t_ok; echo "$line" ;;
      "FAILED "*) t_fail "${line#FAILED }" ;;
      *) echo "$line" ;;
    esac
  done <"$T_DIR/page.out"
  t_check "$page: its commands finished within 300 s (rc $rc)" test "$rc" -ne 124 -a "$rc" -ne 137
  echo "$page: $n commands in $((SECONDS - start)) s"
  ran=$((ran + n))
done <"$T_DIR/plan"
echo "commands run: $ran"
t_check "some commands ran" test "$ran" -gt 0
t_finish
