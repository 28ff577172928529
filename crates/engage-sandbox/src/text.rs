//! A small phrase bank per language, with each language's exact characters (Polish diacritics,
//! Cyrillic, right-to-left Persian with its own letters and zero-width non-joiners, ...), and
//! deterministic text built from it.

use rand::Rng;
use rand::rngs::SmallRng;

/// One language of the phrase bank.
#[derive(Debug)]
pub struct Lang {
    /// ISO 639-1 code.
    pub code: &'static str,
    /// The vendor-style locale (`en-US`, `pl`, ...).
    pub locale: &'static str,
    /// Whether the script is written right to left.
    pub rtl: bool,
    /// A Rails-style time zone name, as helpdesks report it.
    pub time_zone: &'static str,
    /// The IANA time zone.
    pub iana_time_zone: &'static str,
    /// Country calling code and mobile prefix, e.g. `+48 601`.
    pub phone_prefix: &'static str,
    /// Top-level domain for e-mail addresses.
    pub tld: &'static str,
    /// Full names with an ASCII handle for e-mail addresses.
    pub names: &'static [(&'static str, &'static str)],
    /// Ticket subjects.
    pub subjects: &'static [&'static str],
    /// Sentences for ticket bodies and messages.
    pub sentences: &'static [&'static str],
    /// Positive rating / review comments.
    pub praise: &'static [&'static str],
    /// Negative rating / review comments.
    pub complaints: &'static [&'static str],
}

/// The phrase bank. Weights for [`pick_lang`] follow the order: English is the most common.
pub static LANGS: &[Lang] = &[
    Lang {
        code: "en",
        locale: "en-US",
        rtl: false,
        time_zone: "Eastern Time (US & Canada)",
        iana_time_zone: "America/New_York",
        phone_prefix: "+1 415 555",
        tld: "com",
        names: &[
            ("Emily Carter", "emily.carter"),
            ("James O'Brien", "james.obrien"),
            ("Olivia Smith", "olivia.smith"),
            ("Noah Johnson", "noah.johnson"),
            ("Sophie Turner", "sophie.turner"),
            ("Liam Walker", "liam.walker"),
        ],
        subjects: &[
            "Order arrived damaged",
            "Can't log in to my account",
            "Refund still not received",
            "Question about my invoice",
            "Delivery is late again",
            "How do I change my subscription?",
            "App crashes when I open settings",
        ],
        sentences: &[
            "Hi, I placed an order last week and it still hasn't arrived.",
            "The tracking page says \"delivered\", but there is nothing at my door.",
            "Could you please check what happened and let me know?",
            "I've already tried resetting my password twice.",
            "The invoice shows a charge of $49.99 that I don't recognise.",
            "I'd like to cancel my subscription before the next billing date.",
            "The package was opened and one item is missing.",
            "Please call me back, the chat keeps disconnecting.",
            "I'm attaching a screenshot of the error message.",
            "Thanks for the quick reply yesterday, it really helped.",
        ],
        praise: &[
            "Fast and friendly, thank you!",
            "Problem solved in minutes.",
            "Brilliant support, thanks! 👍",
        ],
        complaints: &[
            "Nobody answered for three days.",
            "The issue is still not fixed.",
            "I had to explain everything twice.",
        ],
    },
    Lang {
        code: "es",
        locale: "es",
        rtl: false,
        time_zone: "Madrid",
        iana_time_zone: "Europe/Madrid",
        phone_prefix: "+34 612",
        tld: "es",
        names: &[
            ("José Martínez", "jose.martinez"),
            ("María Fernández", "maria.fernandez"),
            ("Íñigo Sánchez", "inigo.sanchez"),
            ("Lucía Gómez", "lucia.gomez"),
            ("Andrés Muñoz", "andres.munoz"),
            ("Begoña Ruiz", "begona.ruiz"),
        ],
        subjects: &[
            "El pedido llegó dañado",
            "No puedo iniciar sesión en mi cuenta",
            "Todavía no he recibido el reembolso",
            "Pregunta sobre mi factura",
            "El envío vuelve a retrasarse",
            "¿Cómo cambio mi suscripción?",
        ],
        sentences: &[
            "Hola, hice un pedido la semana pasada y todavía no ha llegado.",
            "La página de seguimiento dice «entregado», pero no tengo ningún paquete.",
            "¿Podrían revisar qué ha pasado, por favor?",
            "Ya intenté restablecer la contraseña dos veces.",
            "En la factura aparece un cargo de 49,99 € que no reconozco.",
            "Quiero cancelar la suscripción antes de la próxima renovación.",
            "El paquete estaba abierto y falta un artículo.",
            "Gracias por la rápida respuesta, me ayudó muchísimo.",
        ],
        praise: &[
            "¡Rápido y amable, gracias!",
            "Problema resuelto en minutos.",
            "Excelente atención, como siempre.",
        ],
        complaints: &[
            "Nadie respondió durante tres días.",
            "El problema sigue sin resolverse.",
            "Tuve que explicarlo todo dos veces.",
        ],
    },
    Lang {
        code: "de",
        locale: "de",
        rtl: false,
        time_zone: "Berlin",
        iana_time_zone: "Europe/Berlin",
        phone_prefix: "+49 151",
        tld: "de",
        names: &[
            ("Jürgen Müller", "juergen.mueller"),
            ("Sabine Schröder", "sabine.schroeder"),
            ("Lukas Weiß", "lukas.weiss"),
            ("Anna Groß", "anna.gross"),
            ("Jörg Becker", "joerg.becker"),
            ("Käthe Hoffmann", "kaethe.hoffmann"),
        ],
        subjects: &[
            "Bestellung beschädigt angekommen",
            "Ich kann mich nicht in mein Konto einloggen",
            "Rückerstattung immer noch nicht erhalten",
            "Frage zu meiner Rechnung",
            "Lieferung verspätet sich schon wieder",
            "Wie ändere ich mein Abonnement?",
        ],
        sentences: &[
            "Guten Tag, ich habe letzte Woche bestellt und die Ware ist immer noch nicht da.",
            "Laut Sendungsverfolgung wurde das Paket zugestellt, aber ich habe nichts erhalten.",
            "Könnten Sie bitte prüfen, was passiert ist?",
            "Ich habe schon zweimal versucht, mein Passwort zurückzusetzen.",
            "Auf der Rechnung steht eine Abbuchung über 49,99 €, die ich nicht zuordnen kann.",
            "Ich möchte mein Abo vor der nächsten Abrechnung kündigen.",
            "Das Paket war geöffnet und ein Artikel fehlt.",
            "Meine neue Lieferadresse ist Hauptstraße 5 in Köln.",
            "Vielen Dank für die schnelle Antwort, das hat mir sehr geholfen.",
        ],
        praise: &[
            "Schnell und freundlich, danke!",
            "Problem in wenigen Minuten gelöst.",
            "Großartiger Support, wie immer.",
        ],
        complaints: &[
            "Drei Tage lang hat niemand geantwortet.",
            "Das Problem ist immer noch nicht gelöst.",
            "Ich musste alles zweimal erklären.",
        ],
    },
    Lang {
        code: "pl",
        locale: "pl",
        rtl: false,
        time_zone: "Warsaw",
        iana_time_zone: "Europe/Warsaw",
        phone_prefix: "+48 601",
        tld: "pl",
        names: &[
            ("Łukasz Nowak", "lukasz.nowak"),
            ("Małgorzata Wójcik", "malgorzata.wojcik"),
            ("Krzysztof Kowalczyk", "krzysztof.kowalczyk"),
            ("Agnieszka Woźniak", "agnieszka.wozniak"),
            ("Paweł Mazur", "pawel.mazur"),
            ("Zofia Gołąb", "zofia.golab"),
        ],
        subjects: &[
            "Zamówienie dotarło uszkodzone",
            "Nie mogę zalogować się na konto",
            "Nadal nie otrzymałem zwrotu pieniędzy",
            "Pytanie dotyczące faktury",
            "Przesyłka znowu się spóźnia",
            "Jak zmienić abonament?",
        ],
        sentences: &[
            "Dzień dobry, złożyłem zamówienie w zeszłym tygodniu i nadal nie dotarło.",
            "Na stronie śledzenia przesyłki widnieje status „doręczono”, ale paczki nie ma.",
            "Czy mogą Państwo sprawdzić, co się stało?",
            "Próbowałem już dwukrotnie zresetować hasło.",
            "Na fakturze widzę opłatę 199,00 zł, której nie rozpoznaję.",
            "Chciałbym zrezygnować z subskrypcji przed kolejnym okresem rozliczeniowym.",
            "Paczka była otwarta i brakuje w niej jednej rzeczy.",
            "Proszę o pilny kontakt telefoniczny, czat ciągle się rozłącza.",
            "Dziękuję za szybką odpowiedź, bardzo mi pomogła.",
        ],
        praise: &[
            "Szybko i uprzejmie, dziękuję!",
            "Problem rozwiązany w kilka minut.",
            "Świetna obsługa, jak zawsze.",
        ],
        complaints: &[
            "Nikt nie odpowiadał przez trzy dni.",
            "Problem nadal nie został rozwiązany.",
            "Musiałem wszystko tłumaczyć dwa razy.",
        ],
    },
    Lang {
        code: "ru",
        locale: "ru",
        rtl: false,
        time_zone: "Moscow",
        iana_time_zone: "Europe/Moscow",
        phone_prefix: "+7 916",
        tld: "ru",
        names: &[
            ("Дмитрий Иванов", "dmitry.ivanov"),
            ("Анна Смирнова", "anna.smirnova"),
            ("Сергей Кузнецов", "sergey.kuznetsov"),
            ("Ольга Попова", "olga.popova"),
            ("Алексей Соколов", "alexey.sokolov"),
            ("Наталья Морозова", "natalya.morozova"),
        ],
        subjects: &[
            "Заказ пришёл повреждённым",
            "Не могу войти в личный кабинет",
            "Деньги до сих пор не вернули",
            "Вопрос по счёту",
            "Доставка снова задерживается",
            "Как изменить тариф?",
        ],
        sentences: &[
            "Здравствуйте, я оформил заказ на прошлой неделе, но он так и не пришёл.",
            "На сайте отслеживания написано «доставлено», но посылки нет.",
            "Проверьте, пожалуйста, что случилось.",
            "Я уже дважды пытался сбросить пароль.",
            "В счёте есть списание на 4 990 ₽, которое я не узнаю.",
            "Хочу отменить подписку до следующего списания.",
            "Посылка была вскрыта, одного товара не хватает.",
            "Перезвоните мне, пожалуйста, чат всё время обрывается.",
            "Спасибо за быстрый ответ, это очень помогло.",
        ],
        praise: &[
            "Быстро и вежливо, спасибо!",
            "Проблему решили за несколько минут.",
            "Отличная поддержка, как всегда.",
        ],
        complaints: &[
            "Три дня никто не отвечал.",
            "Проблема так и не решена.",
            "Пришлось всё объяснять дважды.",
        ],
    },
    Lang {
        code: "fa",
        locale: "fa",
        rtl: true,
        time_zone: "Tehran",
        iana_time_zone: "Asia/Tehran",
        phone_prefix: "+98 912",
        tld: "ir",
        names: &[
            ("مریم احمدی", "maryam.ahmadi"),
            ("علی رضایی", "ali.rezaei"),
            ("زهرا حسینی", "zahra.hosseini"),
            ("محمد کریمی", "mohammad.karimi"),
            ("فاطمه موسوی", "fatemeh.mousavi"),
            ("رضا جعفری", "reza.jafari"),
        ],
        subjects: &[
            "سفارشم آسیب\u{200c}دیده رسید",
            "نمی\u{200c}توانم وارد حسابم شوم",
            "هنوز پولم را پس نگرفته\u{200c}ام",
            "سؤال درباره\u{200c}ی فاکتور",
            "ارسال دوباره با تأخیر است",
            "چطور اشتراکم را تغییر دهم؟",
        ],
        sentences: &[
            "سلام، هفته\u{200c}ی پیش سفارشی ثبت کردم ولی هنوز به دستم نرسیده است.",
            "در صفحه\u{200c}ی پیگیری نوشته شده «تحویل داده شد» اما بسته\u{200c}ای دریافت نکرده\u{200c}ام.",
            "لطفاً بررسی کنید چه اتفاقی افتاده است.",
            "دو بار رمز عبورم را بازنشانی کردم.",
            "شماره\u{200c}ی سفارش من ۴۸۲۱۷ است.",
            "در فاکتور مبلغی می\u{200c}بینم که برایم آشنا نیست.",
            "می\u{200c}خواهم اشتراکم را پیش از دوره\u{200c}ی بعدی لغو کنم.",
            "بسته باز شده بود و یکی از کالاها کم است.",
            "ممنون از پاسخ سریع\u{200c}تان، خیلی کمک کرد.",
        ],
        praise: &["سریع و مؤدبانه، متشکرم!", "مشکلم در چند دقیقه حل شد.", "پشتیبانی عالی مثل همیشه."],
        complaints: &[
            "سه روز کسی جواب نداد.",
            "مشکل هنوز حل نشده است.",
            "مجبور شدم همه\u{200c}چیز را دو بار توضیح بدهم.",
        ],
    },
    Lang {
        code: "hr",
        locale: "hr",
        rtl: false,
        time_zone: "Zagreb",
        iana_time_zone: "Europe/Zagreb",
        phone_prefix: "+385 91",
        tld: "hr",
        names: &[
            ("Ivan Horvat", "ivan.horvat"),
            ("Ana Kovačević", "ana.kovacevic"),
            ("Marko Babić", "marko.babic"),
            ("Petra Marić", "petra.maric"),
            ("Željko Jurić", "zeljko.juric"),
            ("Đurđica Knežević", "durdica.knezevic"),
        ],
        subjects: &[
            "Narudžba je stigla oštećena",
            "Ne mogu se prijaviti u svoj račun",
            "Povrat novca još nije stigao",
            "Pitanje o računu",
            "Dostava opet kasni",
            "Kako promijeniti pretplatu?",
        ],
        sentences: &[
            "Poštovani, prošli tjedan sam naručio proizvod, ali još nije stigao.",
            "Na stranici za praćenje piše da je pošiljka dostavljena, ali ništa nisam dobio.",
            "Možete li, molim vas, provjeriti što se dogodilo?",
            "Već sam dvaput pokušao promijeniti lozinku.",
            "Na računu vidim naplatu od 49,99 € koju ne prepoznajem.",
            "Želio bih otkazati pretplatu prije sljedećeg obračuna.",
            "Paket je bio otvoren i nedostaje jedan artikl.",
            "Hvala na brzom odgovoru, jako mi je pomogao.",
        ],
        praise: &[
            "Brzo i ljubazno, hvala!",
            "Problem riješen za nekoliko minuta.",
            "Odlična podrška, kao i uvijek.",
        ],
        complaints: &[
            "Tri dana nitko nije odgovorio.",
            "Problem još uvijek nije riješen.",
            "Morao sam sve objašnjavati dvaput.",
        ],
    },
    Lang {
        code: "sl",
        locale: "sl",
        rtl: false,
        time_zone: "Ljubljana",
        iana_time_zone: "Europe/Ljubljana",
        phone_prefix: "+386 41",
        tld: "si",
        names: &[
            ("Špela Novak", "spela.novak"),
            ("Luka Kovačič", "luka.kovacic"),
            ("Nina Zupančič", "nina.zupancic"),
            ("Matej Potočnik", "matej.potocnik"),
            ("Urška Krajnc", "urska.krajnc"),
            ("Žiga Kos", "ziga.kos"),
        ],
        subjects: &[
            "Naročilo je prispelo poškodovano",
            "Ne morem se prijaviti v svoj račun",
            "Vračila denarja še vedno nisem prejel",
            "Vprašanje glede računa",
            "Dostava spet zamuja",
            "Kako spremenim naročnino?",
        ],
        sentences: &[
            "Pozdravljeni, prejšnji teden sem oddal naročilo, ki še vedno ni prispelo.",
            "Na strani za sledenje piše, da je bila pošiljka dostavljena, vendar je nisem prejel.",
            "Ali lahko prosim preverite, kaj se je zgodilo?",
            "Geslo sem že dvakrat poskušal ponastaviti.",
            "Na računu vidim bremenitev v višini 49,99 €, ki je ne prepoznam.",
            "Naročnino bi rad preklical pred naslednjim obračunom.",
            "Paket je bil odprt in en izdelek manjka.",
            "Hvala za hiter odgovor, zelo mi je pomagal.",
        ],
        praise: &[
            "Hitro in prijazno, hvala!",
            "Težava rešena v nekaj minutah.",
            "Odlična podpora, kot vedno.",
        ],
        complaints: &[
            "Tri dni ni nihče odgovoril.",
            "Težava še vedno ni rešena.",
            "Vse sem moral razložiti dvakrat.",
        ],
    },
];

/// Relative weights of [`LANGS`] (same order), summing to 100.
const WEIGHTS: [u64; 8] = [34, 12, 12, 10, 10, 8, 7, 7];

/// Picks a language from a hash value, English being the most common.
pub fn pick_lang(h: u64) -> &'static Lang {
    let mut roll = h % 100;
    for (lang, &w) in LANGS.iter().zip(WEIGHTS.iter()) {
        if roll < w {
            return lang;
        }
        roll -= w;
    }
    &LANGS[0]
}

/// Looks a language up by its code.
pub fn lang(code: &str) -> Option<&'static Lang> {
    LANGS.iter().find(|l| l.code == code)
}

/// Picks one element of a non-empty slice (returns `""` for an empty one).
pub fn choose(rng: &mut SmallRng, items: &[&'static str]) -> &'static str {
    if items.is_empty() { "" } else { items[rng.random_range(0..items.len())] }
}

/// Appends sentences of `lang` to `out`, separated by spaces, until it holds at least
/// `target_bytes` bytes (always at least one sentence). Sentences come in a random cyclic order,
/// so none repeats before all have been used.
pub fn paragraph(rng: &mut SmallRng, lang: &Lang, target_bytes: usize, out: &mut String) {
    let n = lang.sentences.len();
    if n == 0 {
        return;
    }
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let strides: Vec<usize> = (1..n.max(2)).filter(|&s| gcd(s, n) == 1).collect();
    let stride = strides.get(rng.random_range(0..strides.len().max(1))).copied().unwrap_or(1);
    let mut i = rng.random_range(0..n);
    let start = out.len();
    loop {
        if out.len() > start {
            out.push(' ');
        }
        out.push_str(lang.sentences[i]);
        i = (i + stride) % n;
        if out.len() - start >= target_bytes {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn required_languages_with_their_characters() {
        for code in ["en", "pl", "ru", "fa", "hr", "sl", "es", "de"] {
            assert!(lang(code).is_some(), "{code}");
        }
        let all = |code: &str| {
            let l = lang(code).unwrap();
            let mut s = String::new();
            for part in [l.subjects, l.sentences, l.praise, l.complaints] {
                s.extend(part.iter().copied());
            }
            s
        };
        assert!(all("pl").contains('ł') && all("pl").contains('ą'));
        assert!(all("ru").contains('ё'));
        assert!(all("fa").contains('\u{200c}') && all("fa").contains('ی') && all("fa").contains('۴'));
        assert!(
            all("hr").contains('ć') && all("hr").contains('đ')
                || lang("hr").unwrap().names[5].0.contains('Đ')
        );
        assert!(all("sl").contains('č') && all("sl").contains('š'));
        assert!(all("es").contains('ñ') && all("es").contains('¿'));
        assert!(all("de").contains('ß') && all("de").contains('ü'));
        assert!(lang("fa").unwrap().rtl);
        assert_eq!(WEIGHTS.len(), LANGS.len());
        assert_eq!(WEIGHTS.iter().sum::<u64>(), 100);
    }

    #[test]
    fn paragraph_reaches_target() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut s = String::new();
        paragraph(&mut rng, &LANGS[5], 500, &mut s);
        assert!(s.len() >= 500);
    }
}
