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

/// A command ending in a here-document, the way a lab's solution writes a
/// Dockerfile to `build -`: the first line ends with `<<'EOF'` (or `<<EOF`),
/// the lines after it are the command's standard input, up to the line
/// `EOF`. Returns the command line and that input (None: a plain line).
pub fn heredoc(text: &str) -> Result<(String, Option<String>), String> {
    let Some((first, rest)) = text.split_once('\n') else {
        return Ok((text.to_string(), None));
    };
    let Some((command, marker)) = first.trim_end().rsplit_once("<<") else {
        return Err(format!(
            "{first:?}: lines after a command need a here-document (<<'EOF')"
        ));
    };
    let delimiter = marker.trim().trim_matches('\'').trim_matches('"');
    if delimiter.is_empty() || delimiter.contains(char::is_whitespace) {
        return Err(format!(
            "{first:?}: a here-document needs one delimiter word"
        ));
    }
    let lines: Vec<&str> = rest.lines().collect();
    let Some(end) = lines.iter().position(|l| *l == delimiter) else {
        return Err(format!("the here-document has no closing {delimiter} line"));
    };
    if lines[end + 1..].iter().any(|l| !l.trim().is_empty()) {
        return Err(format!("text after the here-document's {delimiter}"));
    }
    let body = lines[..end].iter().map(|l| format!("{l}\n")).collect();
    Ok((command.trim_end().to_string(), Some(body)))
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
    fn here_documents_become_standard_input() {
        assert_eq!(
            heredoc("build -t a - <<'EOF'\nFROM busybox\nCMD [\"echo\", \"hi\"]\nEOF\n").unwrap(),
            (
                "build -t a -".to_string(),
                Some("FROM busybox\nCMD [\"echo\", \"hi\"]\n".to_string())
            )
        );
        assert_eq!(heredoc("ps -a").unwrap(), ("ps -a".to_string(), None));
        assert!(heredoc("build - <<EOF\nFROM busybox\n").is_err());
        assert!(heredoc("build -\nFROM busybox\n").is_err());
        assert!(heredoc("build - <<EOF\nx\nEOF\nmore\n").is_err());
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
