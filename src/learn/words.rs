//! Split a docker-style command line into words, as a POSIX shell would for
//! the simple cases lessons use: spaces separate words, single quotes keep
//! everything, double quotes keep spaces, a backslash escapes one character.

pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    word.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `$PWD` and `${PWD}` outside single quotes become `pwd`, as the
/// learner's shell would expand them (`-v $PWD/backup:/backup`).
pub fn expand_pwd(line: &str, pwd: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(r) = rest.strip_prefix("${PWD}") {
                out.push_str(pwd);
                rest = r;
                continue;
            }
            if let Some(r) = rest.strip_prefix("$PWD") {
                if !r.starts_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_') {
                    out.push_str(pwd);
                    rest = r;
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Drop a leading `docker` or `glassbox`: learners type either.
pub fn without_program(mut words: Vec<String>) -> Vec<String> {
    if matches!(
        words.first().map(String::as_str),
        Some("docker" | "glassbox")
    ) {
        words.remove(0);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwd_is_expanded_outside_single_quotes() {
        assert_eq!(
            expand_pwd("run -v $PWD/b:/b -v ${PWD}:/c sh -c 'echo $PWD'", "/w"),
            "run -v /w/b:/b -v /w:/c sh -c 'echo $PWD'"
        );
        assert_eq!(expand_pwd("echo $PWDX", "/w"), "echo $PWDX");
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split("run --rm busybox echo hi").unwrap(),
            ["run", "--rm", "busybox", "echo", "hi"]
        );
        assert_eq!(
            split("sh -c 'echo $$; ls /'").unwrap(),
            ["sh", "-c", "echo $$; ls /"]
        );
        assert_eq!(split(r#"echo "a b" c\ d"#).unwrap(), ["echo", "a b", "c d"]);
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert!(split("echo 'oops").is_err());
        assert_eq!(
            without_program(split("docker ps -a").unwrap()),
            ["ps", "-a"]
        );
    }
}
