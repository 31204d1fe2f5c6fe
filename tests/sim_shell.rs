//! The simulated shell against the real one: each script runs in a real
//! container (busybox's own `sh`, as root) and in `glassbox --simulate run`,
//! and the two must print the same bytes and exit the same way. Scripts are
//! chosen so their output does not depend on the host (text processing,
//! arithmetic, loops, traps, files under /tmp); for what does (ps, top, df,
//! free, date) the shape is compared: header and column layout.

mod common;

use common::{stderr, stdout, Gb};

struct Ran {
    out: String,
    err: String,
    code: Option<i32>,
}

fn run(gb: &Gb, simulate: bool, script: &str) -> Ran {
    let mut args = vec![];
    if simulate {
        args.push("--simulate");
    }
    args.extend(["run", "--rm", "busybox", "sh", "-c", script]);
    let o = gb.run(&args);
    Ran {
        out: stdout(&o),
        // glassbox's own note about importing the built-in image is not the program's
        err: stderr(&o)
            .lines()
            .filter(|l| !l.starts_with("Unable to find image"))
            .map(|l| format!("{l}\n"))
            .collect(),
        code: o.status.code(),
    }
}

/// Scripts whose stdout, stderr and exit status must match exactly.
const SAME: &[&str] = &[
    // a #! script found through PATH gets its full path as $0 (binfmt_script)
    "mkdir -p /tmp/bin && printf '%s\\n' '#!/bin/sh' 'echo \"$0 says: $*\"' > /tmp/bin/moo && chmod 755 /tmp/bin/moo && PATH=/tmp/bin:$PATH moo Hello Moo",
    // pipes, statuses
    "printf 'b\\na\\nb\\nc\\n' | sort | uniq -c",
    "true | false; echo $?; false | true; echo $?; ! true; echo $?",
    "yes | head -n 3; echo $?",
    "seq 10 | grep -v 5 | tail -n 3 | wc -l",
    "echo a b c | while read x rest; do echo \"$rest|$x\"; done",
    // compound commands
    "for i in 1 2 3 4; do if [ $i = 2 ]; then continue; elif [ $i = 4 ]; then break; fi; echo $i; done",
    "i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; until [ $i -le 2 ]; do i=$((i-1)); done; echo $i",
    "for f in a.c b.txt c.md; do case $f in *.c) echo C;; *.txt|*.md) echo doc;; *) echo other;; esac; done",
    "{ echo a; echo b; } | wc -l; (cd /tmp; pwd); pwd",
    "X=1; (X=2; echo $X); echo $X; export Y=3; sh -c 'echo ${Y:-unset} ${X:-unset}'",
    // functions
    "f() { local a=$1; shift; echo \"$a:$#:$*\"; return 3; }; a=out; f x y z; echo $? $a",
    "fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1-1))) )); fi; }; fact 6",
    "set -- a 'b c' d; echo $#; for x in \"$@\"; do echo \"[$x]\"; done; shift 2; echo $@",
    // expansions and arithmetic
    "echo $((2+3*4)) $((7/2)) $((-7%3)) $((1<2 && 3>2)) $(( (1+2)*3 )) $((10>20||0))",
    "x=5; echo $((x*2)) `echo back` \"$(echo 'a  b')\" $(echo 'a  b')",
    "v=a/b/c.txt; echo ${v##*/} ${v#*/} ${v%.*} ${v%%/*} ${#v} ${u:-d} ${u-e} ${v:+set}",
    "echo $((1/0)); echo after",
    "cat <<EOF\nhi $((1+1)) $HOME\nEOF\ncat <<'X'\n$HOME\nX",
    "echo 'a  b' \"c  d\" e\\ f; echo \"it's\" 'say \"x\"'",
    // errors as ash prints them
    "nosuch; echo $?",
    "if true; then echo",
    "echo a &&",
    "echo a\nfi\necho b",
    "ls /nope; echo $?; cat /nope; echo $?",
    "cd /nope; echo $?",
    // redirections
    "echo out >/tmp/o; echo err >&2; ls /nope 2>/dev/null; echo $?; cat /tmp/o; nosuch 2>&1 | cat",
    "echo one > /tmp/f; echo two >> /tmp/f; wc -l < /tmp/f; read l < /tmp/f; echo $l",
    // traps, background jobs
    "trap 'echo bye' EXIT; echo hi; exit 4",
    "sleep 1 & p=$!; wait $p; echo done $?",
    "sleep 30 & kill $!; wait $!; echo $?",
    "(sleep 0.2; echo late) & echo early; wait",
    "trap 'echo got TERM; exit 3' TERM; (sleep 0.3; kill -TERM $$) & while true; do sleep 1; done",
    "set -e; true; false; echo not reached",
    // text applets
    "printf 'a b\\nc d e\\n' > /tmp/t; wc /tmp/t; wc -l /tmp/t; wc -c < /tmp/t; wc -w /tmp/t /tmp/t",
    "printf 'Apple\\nbanana\\napple\\ncherry\\n' > /tmp/t; grep -i apple /tmp/t; grep -c a /tmp/t; grep -n an /tmp/t; grep -v a /tmp/t; grep -q cherry /tmp/t && echo yes; grep -o 'an' /tmp/t; grep -E 'b|c' /tmp/t; grep -w apple /tmp/t; grep nope /tmp/t; echo $?",
    "printf '1\\n2\\n3\\n4\\n5\\n' > /tmp/n; head -n 2 /tmp/n; tail -n 2 /tmp/n; tail -n +4 /tmp/n; head -c 3 /tmp/n; echo",
    "echo 'a:b:c:d' | cut -d: -f2,4; echo abcdef | cut -c2-4; echo 'x y' | cut -d' ' -f1",
    "printf '10 b\\n9 a\\n10 a\\n' | sort; printf '10\\n9\\n100\\n' | sort -n; printf '1\\n3\\n2\\n' | sort -rn; printf 'b 2\\na 3\\nc 1\\n' | sort -k2 -n; printf 'a\\na\\nb\\n' | sort -u",
    "printf 'a\\na\\nb\\nc\\nc\\n' | uniq; printf 'a\\na\\nb\\n' | uniq -c; printf 'a\\na\\nb\\n' | uniq -d",
    "echo hello world | sed 's/o/0/g'; printf '1\\n2\\n3\\n' | sed -n 2p; printf '1\\n2\\n3\\n' | sed 2d; printf 'a\\nb\\n' | sed -e 's/a/A/' -e 's/b/B/'; echo abc | sed 's/\\(b\\)/[\\1]/'; printf 'x\\ny\\n' | sed '/y/d'",
    "echo hi > /tmp/s; sed -i 's/hi/ho/' /tmp/s; cat /tmp/s",
    "seq 3; seq 2 4; seq 1 2 7; seq -s, 3; seq 3 -1 1",
    "expr 3 + 4; expr 7 / 2; expr 2 \\* 5; expr length hello; expr substr hello 2 3; expr 3 \\> 2; expr 0; echo $?",
    "basename /a/b/c.txt; basename /a/b/c.txt .txt; basename /a/b/; dirname /a/b/c; dirname a; dirname /a",
    "echo Hello | tr a-z A-Z; echo hello | tr -d l; echo aaabbb | tr -s ab; echo 'a b' | tr ' ' '\\n'",
    "echo x | tee /tmp/tee1; cat /tmp/tee1; echo a b c | xargs echo y; printf '1\\n2\\n' | xargs -n1 echo n",
    "printf '%5s|%-5s|%05d|%x|%o|%c|%%\\n' a b 42 255 8 xyz; printf '%s\\n' a b c; printf '%d-%d\\n' 1 2 3 4",
    "echo -n a; echo b; echo -e 'x\\ty'",
    "echo 'a b c' | awk '{print $2}'; echo 'a:b:c' | awk -F: '{print $3, $1}'",
    // test
    "[ 1 -eq 1 ] && echo eq; [ a = b ] || echo ne; test -z '' && echo z; [ -d /tmp ] && echo dir; [ -f /tmp ] || echo nofile; [ 2 -gt 1 -a 1 -lt 2 ] && echo and",
    "[ a -eq 1 ]; echo $?; [ 1 = 1; echo $?",
    // file applets
    "mkdir -p /tmp/d/e && touch /tmp/d/e/f && cp -r /tmp/d /tmp/c && mv /tmp/c/e/f /tmp/c/g && ln -s g /tmp/c/l && ls /tmp/c && readlink /tmp/c/l && rm -rf /tmp/d && ls /tmp/d; echo $?",
    "touch /tmp/m; chmod 750 /tmp/m; stat -c '%a %A' /tmp/m; chmod u-w,o+r /tmp/m; stat -c '%a' /tmp/m; chmod +x /tmp/m; stat -c %a /tmp/m",
    "mkdir /tmp/x; mkdir /tmp/x; rm /tmp/x; rmdir /tmp/nope; rm /tmp/nope; rm -f /tmp/nope; echo $?",
    "cp /nope /tmp/y; mv /nope /tmp/y; touch /nodir/x; echo $?",
    "dd if=/dev/zero of=/tmp/z bs=512 count=4; wc -c < /tmp/z",
    "which ls sh nosuch; echo $?; whoami; id; nproc >/dev/null; echo $?",
    "kill -l 15; kill -l 143; kill 99999; echo $?",
    "echo $$; sh -c 'echo $$'",
    "printf 'a 1\\nb 2\\n' | while read k v; do echo $v=$k; done; seq 3 | xargs; echo a b | xargs -I{} echo [{}]",
    "for f in /etc/passwd /etc/nope /etc/group; do [ -f $f ] && echo $f; done; echo ${x:=5} $x; unset x; echo ${x-unset}",
    "trap 'echo t' INT; trap; trap - INT; trap; echo end",
    "cd /tmp && mkdir -p q && cd q && pwd && cd .. && pwd && cd - && echo $OLDPWD",
    "x=3; f() { x=4; local y=1; echo $y; }; f; echo $x $y; eval 'echo $x'; v=x; eval echo \\$$v",
    // ps as busybox's ash runs it: no TIME column (Debian's build), and a
    // `{ps}` name on the shell's own command line (ash runs it without exec)
    "ps; ps -o pid,ppid,user,comm,args",
    // mount: listing by type; mounting needs CAP_SYS_ADMIN the container lacks
    "mount -t tmpfs | head -2; mount -t proc proc /mnt; echo $?; mount /mnt; echo $?; mount -o remount,ro /; echo $?",
    "df /nope; echo $?",
    // shell: persistent redirections, errors, set -u, substitutions, $-
    "exec 3>/tmp/p; echo x >&3; echo y >&3; exec 3>&-; cat /tmp/p; echo z >&3; exec >/tmp/q; echo hidden; exec >&2; cat /tmp/q",
    "echo ${x:?nope}; echo after",
    "set -u; echo ${nope:-d} $#; echo \"$@\"; echo $nope; echo after",
    "set -u; echo $1",
    "s=hello; echo ${s:1} ${s: -2} ${s/l/L} ${s//l/L} ${s/#h/H} ${s/x/y} ${s//l} ${s/l*/X}; p=/a/b/c; echo ${p//\\//_}",
    "echo $-; set -eux; echo $-; set +x; echo $-; (echo $-)",
    "echo $RANDOM | grep -c '^[0-9][0-9]*$'; a=$RANDOM; b=$RANDOM; [ $a != $b ] && echo differ",
    "type echo cd ls; command -v ls",
    "kill; echo $?; kill -9; echo $?; /bin/kill; echo $?",
    "printf '%d\\n'; echo $?; printf '%d|\\n' abc; echo $?; printf '%d|\\n' 3x; printf '%s %s|\\n' a; printf '%x %f|\\n'",
    "echo hi > /tmp/x; [ /tmp/x -nt /etc/passwd ] && echo newer; [ /etc/passwd -ot /tmp/x ] && echo older",
    // applets' options learners reach for
    "seq 5 | head -n -2; seq 5 | head -n-4; printf abcdef | head -c -2; echo",
    "grep -r root /etc; grep -A1 -B1 daemon /etc/passwd; grep -n -C1 bin /etc/group; seq 20 | grep -A1 -e 5 -e 9; seq 10 | grep -B2 -c 5",
    "printf 'x 1\\ny 1\\nz 2\\n' | uniq -f1; printf 'ab\\nac\\nbc\\n' | uniq -s1; printf 'ab\\nac\\nbc\\n' | uniq -w1 -c",
    "du -a /etc | sort -k2",
    "chmod 4755 /tmp; stat -c %A /tmp; chmod a=r /tmp; stat -c %a /tmp; chmod u=rwx,g=rx /tmp; stat -c %a /tmp",
    "mkdir -pv /tmp/v/w x/y; mkdir -v /tmp/z; mkdir -pv /tmp/v",
    "touch -d '2020-01-02 03:04:05' /tmp/t; touch -t 202101020304.05 /tmp/u; touch -r /tmp/t /tmp/v; touch -d bad /tmp/w; echo $?; stat -c '%y|%Y|%n|%f' /tmp/t /tmp/u /tmp/v; ls -l /tmp/t",
    "while getopts :ab: o -a -z -b; do echo \"$o ${OPTARG-unset} $OPTIND\"; done; echo end $OPTIND; OPTIND=1; while getopts ab: o -ab1 -z x -b; do echo \"$o ${OPTARG-unset} $OPTIND\"; done; echo $? $OPTIND $o; set -- -a -- -b; OPTIND=1; getopts a o; echo $o; getopts a o; echo $? $o $OPTIND",
    "f() { while getopts 'n:v' opt; do case $opt in n) echo name=$OPTARG;; v) echo verbose;; *) echo bad;; esac; done; shift $((OPTIND-1)); echo rest: $@; }; f -v -n bob x y; getopts b o -b; echo $?; getopts b: o -b; echo $? $o",
    "seq 3 | tac; printf 'a\\nb' | tac; echo; seq 6 | paste -sd, ; seq 4 | paste - - ; printf '1\\n2\\n' > /tmp/a; printf 'x\\ny\\nz\\n' > /tmp/b; paste /tmp/a /tmp/b; paste -d: /tmp/a /tmp/b; paste -s /tmp/a /tmp/b; paste /tmp/b /tmp/a",
    "mkdir -p /tmp/r/s /tmp/r/a/b; touch /tmp/r/s/f /tmp/r/z; ls -R /tmp/r; cd /tmp/r; ls -R; ls -r; ls -R s a",
];

#[test]
fn simulated_shell_prints_what_busybox_prints() {
    require_root!();
    let gb = Gb::new();
    let mut failures = Vec::new();
    for script in SAME {
        let real = run(&gb, false, script);
        let sim = run(&gb, true, script);
        if real.out != sim.out || real.err != sim.err || real.code != sim.code {
            failures.push(format!(
                "script: {script}\n  real ({:?}): {:?} / {:?}\n  sim  ({:?}): {:?} / {:?}",
                real.code, real.out, real.err, sim.code, sim.out, sim.err
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ:\n{}",
        failures.len(),
        SAME.len(),
        failures.join("\n")
    );
}

/// Each line's column count and the header line.
fn shape(out: &str) -> (String, Vec<usize>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("").to_string();
    (
        header,
        lines.map(|l| l.split_whitespace().count()).collect(),
    )
}

#[test]
fn system_figures_have_busybox_shapes() {
    require_root!();
    let gb = Gb::new();
    for (script, lines_too) in [
        ("ps -o pid,user,args", false),
        ("free", true),
        ("free -m", true),
        ("df | head -2", true),
        ("df -h | head -2", true),
        ("date", false),
        ("uname -s", true),
    ] {
        let real = run(&gb, false, script);
        let sim = run(&gb, true, script);
        assert_eq!(real.code, sim.code, "{script}");
        let (rh, rl) = shape(&real.out);
        let (sh, sl) = shape(&sim.out);
        if script == "date" {
            // Tue Dec  1 12:59:58 UTC 2026
            let cols = |s: &str| s.split_whitespace().map(|w| w.len()).collect::<Vec<_>>();
            assert_eq!(cols(&rh).len(), cols(&sh).len(), "{script}: {rh} vs {sh}");
            assert!(sh.ends_with(" UTC 2026"), "{sh}");
            continue;
        }
        assert_eq!(
            rh.split_whitespace().collect::<Vec<_>>(),
            sh.split_whitespace().collect::<Vec<_>>(),
            "{script} header"
        );
        if script.starts_with("free") || script.starts_with("df") {
            assert_eq!(rh, sh, "{script} header layout");
        }
        if lines_too {
            assert_eq!(rl, sl, "{script}:\n{}\nvs\n{}", real.out, sim.out);
        }
    }
    // top -bn1: the three summary lines and the table header
    let real = run(&gb, false, "top -bn1");
    let sim = run(&gb, true, "top -bn1");
    let first_words = |s: &str| {
        s.lines()
            .take(4)
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first_words(&real.out),
        first_words(&sim.out),
        "{}\nvs\n{}",
        real.out,
        sim.out
    );
    assert_eq!(real.out.lines().nth(3), sim.out.lines().nth(3));
}

/// Every number replaced by `N` and spaces collapsed: what stays is the
/// layout, the names and the words, which must be the same.
fn figures_out(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split_whitespace()
                .map(|w| {
                    if w.starts_with(|c: char| c.is_ascii_digit()) {
                        "N"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Scripts whose output differs only in figures of the host (disk sizes).
#[test]
fn simulated_figures_match_busybox_once_normalised() {
    require_root!();
    let gb = Gb::new();
    for script in [
        "df /; df /etc/hosts /tmp; echo $?",
        "df -T /; df -m /; df -h /",
        "df -k / | head -1; df -P / | head -1",
    ] {
        let real = run(&gb, false, script);
        let sim = run(&gb, true, script);
        assert_eq!(real.code, sim.code, "{script}");
        assert_eq!(real.err, sim.err, "{script}");
        assert_eq!(
            figures_out(&real.out),
            figures_out(&sim.out),
            "{script}:\n{}\nvs\n{}",
            real.out,
            sim.out
        );
    }
}
