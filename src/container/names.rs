//! docker-style container names: `adjective_scientist`.

const ADJECTIVES: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious",
    "great", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
    "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
    "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

const SCIENTISTS: &[&str] = &[
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "babbage", "banach",
    "bardeen", "bartik", "bell", "benz", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta",
    "brattain", "brown", "carson", "cerf", "chandrasekhar", "chatelet", "chebyshev", "cohen", "curie",
    "darwin", "davinci", "dijkstra", "dirac", "einstein", "elion", "engelbart", "euclid", "euler", "faraday",
    "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking",
    "heisenberg", "hertz", "hodgkin", "hopper", "hypatia", "jang", "jennings", "johnson", "kalam", "kepler",
    "khorana", "knuth", "kowalevski", "lalande", "lamarr", "leakey", "lovelace", "lumiere", "mayer",
    "mccarthy", "mcclintock", "meitner", "mendel", "minsky", "mirzakhani", "montalcini", "morse", "napier",
    "newton", "nobel", "noether", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
    "ptolemy", "raman", "ramanujan", "ritchie", "rosalind", "sammet", "shannon", "shaw", "sinoussi", "stonebraker",
    "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "villani", "wescoff", "wiles",
    "williams", "wozniak", "wright", "yalow", "yonath", "zhukovsky",
];

/// The name for a given number: deterministic, so simulated runs are repeatable.
pub fn name_for(n: u64) -> String {
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let s = SCIENTISTS[((n / ADJECTIVES.len() as u64) % SCIENTISTS.len() as u64) as usize];
    format!("{a}_{s}")
}

/// A random name.
pub fn random_name() -> String {
    name_for(rand::random::<u64>())
}

/// docker's rule for user-given names: [a-zA-Z0-9][a-zA-Z0-9_.-]*
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_look_like_docker() {
        assert_eq!(name_for(0), "admiring_agnesi");
        assert!(name_for(12345).contains('_'));
        assert!(is_valid_name("web-1.a_b"));
        assert!(!is_valid_name("-web"));
        assert!(!is_valid_name("we b"));
        assert!(!is_valid_name(""));
    }
}
