//! Language detection for free text (reviews, comments), on the `whatlang` trigram models.
//!
//! [`detect`] answers an ISO 639-1 code (`pl`, `ru`, `fa`, `hr`, `sl`...) or nothing: texts too
//! short to tell apart and guesses the model itself calls unreliable give `None`, because a
//! wrong language is worse than none. [`detect_among`] narrows the choice to the languages a
//! connection declares, so that a text is never labelled with a language the business does
//! not expect. Review texts of a sentence or two are told apart reliably.

use whatlang::{Detector, Lang};

/// Texts with fewer letters than this are not guessed at.
const MIN_LETTERS: usize = 12;

/// Detects the language of `text` among every language the model knows.
pub fn detect(text: &str) -> Option<&'static str> {
    guess(&Detector::new(), text, &[])
}

/// Detects the language of `text` among `codes` (ISO 639-1 or 639-3); an empty list or one with
/// no known code means every language. With a list, the best candidate is answered even when the
/// model is not sure between them.
pub fn detect_among(text: &str, codes: &[String]) -> Option<&'static str> {
    let allow: Vec<Lang> = codes.iter().filter_map(|c| lang_of(c)).collect();
    if allow.is_empty() {
        return detect(text);
    }
    guess(&Detector::with_allowlist(allow.clone()), text, &allow)
}

/// The language of a titled text (a review): its body, or title and body together when the
/// body alone is too short to tell; a Croatian or Slovenian answer is checked against the
/// words of title and body together.
pub fn detect_titled(title: Option<&str>, body: Option<&str>, codes: &[String]) -> Option<&'static str> {
    let body = body.unwrap_or("");
    let both = format!("{}\n{body}", title.unwrap_or(""));
    let guess = detect_among(body, codes).or_else(|| detect_among(&both, codes))?;
    let Some(lang) = lang_of(guess).filter(|l| matches!(l, Lang::Hrv | Lang::Slv)) else {
        return Some(guess);
    };
    let allowed = |l: &Lang| codes.is_empty() || codes.iter().any(|c| lang_of(c) == Some(*l));
    match croatian_or_slovenian(&both) {
        Some(other) if other != lang && allowed(&other) => iso639_1(other),
        _ => Some(guess),
    }
}

/// `allow` empty: every language, and an unsure guess is no guess.
fn guess(detector: &Detector, text: &str, allow: &[Lang]) -> Option<&'static str> {
    let trust_best = !allow.is_empty();
    if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
        return None;
    }
    let info = detector.detect(text)?;
    let close = matches!(info.lang(), Lang::Hrv | Lang::Slv | Lang::Srp);
    if close
        && let Some(lang) = croatian_or_slovenian(text)
        && (allow.is_empty() || allow.contains(&lang))
    {
        return iso639_1(lang);
    }
    if !trust_best && !info.is_reliable() && info.confidence() < 0.5 {
        return None;
    }
    iso639_1(info.lang())
}

/// Croatian and Slovenian share most trigrams, and `whatlang` often takes one for the other (or
/// is unsure) on texts of a few sentences. Words and letters only one of them uses decide: a
/// clear majority of one side's markers answers it, anything else `None`.
fn croatian_or_slovenian(text: &str) -> Option<Lang> {
    const CROATIAN: &[&str] = &[
        "sam",
        "nije",
        "nisam",
        "što",
        "koji",
        "koja",
        "koje",
        "već",
        "još",
        "molim",
        "vrlo",
        "jako",
        "tjedan",
        "vrijeme",
        "sve",
        "ništa",
        "bio",
        "htio",
        "dobio",
        "hoću",
        "može",
        "zašto",
        "jučer",
        "uvijek",
        "puta",
        "dana",
        "opet",
        "riješen",
        "riješeno",
        "zahvaljujem",
        "koju",
        "jer",
        "kao",
        "također",
        "u",
        "i",
        "nitko",
        "dvaput",
        "li",
    ];
    const SLOVENIAN: &[&str] = &[
        "sem",
        "ni",
        "nisem",
        "kaj",
        "ki",
        "še",
        "tudi",
        "zelo",
        "teden",
        "vse",
        "nič",
        "bil",
        "bom",
        "bo",
        "lahko",
        "včeraj",
        "vedno",
        "dni",
        "spet",
        "rešena",
        "rešen",
        "hvala",
        "prejel",
        "prejšnji",
        "ker",
        "kot",
        "vendar",
        "prosim",
        "že",
        "so",
        "in",
        "v",
        "nekaj",
        "dvakrat",
    ];
    let lower = text.to_lowercase();
    let mut croatian = lower.chars().filter(|c| matches!(c, 'ć' | 'đ')).count();
    let mut slovenian = 0;
    for word in lower.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()) {
        croatian += usize::from(CROATIAN.contains(&word));
        slovenian += usize::from(SLOVENIAN.contains(&word));
    }
    match croatian.cmp(&slovenian) {
        std::cmp::Ordering::Greater if croatian >= 2 => Some(Lang::Hrv),
        std::cmp::Ordering::Less if slovenian >= 2 => Some(Lang::Slv),
        _ => None,
    }
}

/// The language for an ISO 639-1 or 639-3 code, or an English name.
pub fn lang_of(code: &str) -> Option<Lang> {
    let code = code.trim().to_ascii_lowercase();
    let code = code.split(['-', '_']).next().unwrap_or("");
    Lang::all()
        .iter()
        .copied()
        .find(|l| iso639_1(*l) == Some(code) || l.code() == code || l.eng_name().eq_ignore_ascii_case(code))
}

/// The ISO 639-1 code of a `whatlang` language, where it has one.
pub fn iso639_1(lang: Lang) -> Option<&'static str> {
    use Lang::*;
    Some(match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_texts_in_the_required_languages() {
        let cases = [
            (
                "pl",
                "Bardzo szybka obsługa, paczka dotarła następnego dnia. Polecam wszystkim, świetny kontakt ze sprzedawcą!",
            ),
            (
                "ru",
                "Отличный сервис, заказ пришёл на следующий день. Всем рекомендую, очень вежливый персонал!",
            ),
            ("fa", "خدمات عالی بود و سفارش روز بعد رسید. به همه توصیه می‌کنم، کارکنان بسیار مؤدب بودند."),
            (
                "hr",
                "Poštovani, prošli tjedan sam naručio proizvod, ali još nije stigao. Možete li, molim vas, provjeriti što se dogodilo?",
            ),
            (
                "sl",
                "Pozdravljeni, prejšnji teden sem oddal naročilo, ki še vedno ni prispelo. Ali lahko prosim preverite, kaj se je zgodilo?",
            ),
            ("en", "Great service, the parcel arrived the next day and the staff were very friendly."),
        ];
        for (code, text) in cases {
            assert_eq!(detect(text), Some(code), "{text}");
        }
    }

    #[test]
    fn an_allowlist_narrows_the_choice() {
        let langs: Vec<String> = ["en", "sl"].iter().map(|s| s.to_string()).collect();
        let sl = "Težava rešena v nekaj minutah. Odlična podpora, kot vedno.";
        assert_eq!(detect_among(sl, &langs), Some("sl"));
        assert_eq!(detect_among(sl, &[]), detect(sl));
    }

    /// Review texts that `whatlang` alone takes for the other language, or is unsure of.
    #[test]
    fn croatian_and_slovenian_are_told_apart() {
        let hr = "Problem riješen za nekoliko minuta. Poštovani, prošli tjedan sam naručio proizvod, ali još nije stigao. Na stranici za praćenje piše da je pošiljka dostavljena, ali ništa nisam dobio.";
        let sl = "Vse sem moral razložiti dvakrat. Naročnino bi rad preklical pred naslednjim obračunom. Pozdravljeni, prejšnji teden sem oddal naročilo, ki še vedno ni prispelo.";
        let sl_excerpt = "Tri dni ni nihče odgovoril. Pozdravljeni, prejšnji teden sem oddal naročilo, ki še vedno ni prispelo. Na strani za sledenje piše, da je bila pošiljka dostavljen...";
        let both: Vec<String> = ["hr", "sl", "en", "pl"].iter().map(|s| s.to_string()).collect();
        for (code, text) in [("hr", hr), ("sl", sl), ("sl", sl_excerpt)] {
            assert_eq!(detect(text), Some(code), "{text}");
            assert_eq!(detect_among(text, &both), Some(code), "{text}");
        }
        // Only Croatian expected: the markers do not override the allowlist.
        assert_eq!(detect_among(sl, &["hr".to_string()]), Some("hr"));
        assert_eq!(croatian_or_slovenian("Hvala."), None);
    }

    #[test]
    fn titled_texts_tell_slovenian_from_croatian() {
        let sl = "Ali lahko prosim preverite, kaj se je zgodilo? Na strani za sledenje piše, da je bila pošiljka dostavljena, vendar je nisem prejel.";
        let hr = "Možete li, molim vas, provjeriti što se dogodilo? Paket je bio otvoren i nedostaje jedan artikl.";
        assert_eq!(detect_titled(None, Some(sl), &[]), Some("sl"));
        assert_eq!(detect_titled(None, Some(hr), &[]), Some("hr"));
        assert_eq!(
            detect_titled(Some("Paket"), Some(sl), &["hr".to_owned()]),
            Some("hr"),
            "sl is not allowed"
        );
        assert_eq!(detect_titled(None, Some("Na računu"), &[]), None, "too short to tell");
    }

    #[test]
    fn short_or_empty_texts_are_not_guessed() {
        assert_eq!(detect(""), None);
        assert_eq!(detect("ok 👍"), None);
        assert_eq!(detect("12345 !!!"), None);
    }

    #[test]
    fn codes_in_either_form_name_the_language() {
        assert_eq!(lang_of("pl"), Some(Lang::Pol));
        assert_eq!(lang_of("pol"), Some(Lang::Pol));
        assert_eq!(lang_of("fa-IR"), Some(Lang::Pes));
        assert_eq!(lang_of("Slovene"), Some(Lang::Slv));
        assert_eq!(lang_of("xx"), None);
    }
}
