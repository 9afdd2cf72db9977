//! Message bodies: short Spanish sales chats (car financing) made from templates.
//!
//! A chat goes through phases (opening, questions, engagement, closing); the closing depends on
//! the prospect's stage (a won prospect pays, a lost one declines). Placeholders: `{n}` the
//! prospect's first name, `{e}` the executive's first name, `{m}` an amount, `{d}` a weekday,
//! `{h}` an hour, `{p}` a discount.

use rand::Rng;
use rand::seq::IndexedRandom;

/// Where in its life a chat is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Opening,
    Questions,
    Engaged,
    Closing,
}

impl Phase {
    /// The phase of message `index` of a chat of `len` messages.
    pub fn of(index: usize, len: usize) -> Phase {
        match index * 4 / len.max(1) {
            0 => Phase::Opening,
            1 => Phase::Questions,
            2 => Phase::Engaged,
            _ => Phase::Closing,
        }
    }
}

const IN_OPENING: &[&str] = &[
    "Hola, vi su anuncio en Facebook y quiero información",
    "Buenas tardes, ¿me pueden dar informes?",
    "Hola! Me interesa el plan que anunciaron",
    "Buen día, ¿siguen con la promoción del auto?",
    "Hola, me pasaron este número para cotizar",
    "Qué tal, quisiera saber cómo funciona el financiamiento",
    "Hola buenas noches, ¿todavía tienen el plan a 48 meses?",
];

const IN_QUESTIONS: &[&str] = &[
    "¿Cuánto sería de enganche?",
    "¿Qué requisitos piden?",
    "¿Aceptan pagos con tarjeta?",
    "¿Cuánto tarda la aprobación?",
    "¿Tienen oficina por Insurgentes?",
    "¿Me puede mandar la información por aquí?",
    "Ok, ¿y las mensualidades de cuánto serían?",
    "¿Se puede a 24 meses?",
    "¿Piden aval?",
    "¿El seguro va incluido?",
    "Tengo buró, ¿aun así califico?",
];

const IN_ENGAGED: &[&str] = &[
    "Ya revisé la cotización, se ve bien",
    "Déjeme lo platico con mi esposa y le aviso",
    "¿Hay algún descuento si doy más de enganche?",
    "Me parece un poco alto, ¿no hay otra opción?",
    "Perfecto, ¿qué documentos necesito?",
    "Ya le mandé mi INE y comprobante de domicilio",
    "¿Podemos hablar por llamada mañana?",
    "El {d} a las {h} me queda bien",
    "Ok, lo reviso en la noche",
];

const IN_CLOSING_WON: &[&str] = &[
    "Va, ¿a qué cuenta hago el depósito?",
    "Listo, ya quedó la transferencia 🙌",
    "Muchas gracias por todo, {e}",
    "¿Me confirma que ya quedó registrado mi pago?",
    "Ya firmé el contrato, ¡gracias!",
];

const IN_CLOSING_LOST: &[&str] = &[
    "Por ahora no, gracias",
    "Ya lo conseguí en otro lado, gracias de todos modos",
    "Está fuera de mi presupuesto, gracias",
    "Mejor lo dejamos para el próximo año",
];

const IN_CLOSING_OPEN: &[&str] = &[
    "Sigo interesado, pero hasta la próxima quincena",
    "Todavía lo estoy pensando",
    "¿Me puede volver a mandar la cotización?",
    "Ahorita no puedo, al rato le escribo",
    "¿La promoción sigue hasta fin de mes?",
];

const IN_SHORT: &[&str] =
    &["Ok", "Sí, gracias", "Perfecto 👍", "¿Sigue ahí?", "Gracias!", "Va", "Ok, quedo atento", "Sale, gracias"];

const OUT_OPENING: &[&str] = &[
    "¡Hola {n}! Soy {e}, de Autofinanzas Platica. ¿En qué te puedo ayudar?",
    "Hola {n}, gracias por escribirnos. Con gusto te doy la información.",
    "¡Qué tal {n}! Soy {e}. ¿Qué modelo te interesa?",
    "Hola {n}, buen día. ¿Buscas auto nuevo o seminuevo?",
];

const OUT_QUESTIONS: &[&str] = &[
    "El enganche empieza en ${m} y el resto a mensualidades fijas.",
    "Te comparto la cotización: mensualidades desde ${m}.",
    "Solo necesitamos INE, comprobante de domicilio y tus últimos 3 recibos de nómina.",
    "La aprobación tarda de 24 a 48 horas hábiles.",
    "Claro, ¿a qué correo te la envío?",
    "Sí, manejamos plazos de 12, 24, 36 y 48 meses.",
    "No pedimos aval 🙂",
    "Sí, el seguro del primer año va incluido.",
];

const OUT_ENGAGED: &[&str] = &[
    "¿Te parece si lo revisamos por llamada el {d} a las {h}?",
    "Esta semana tenemos {p}% de descuento en el enganche.",
    "Perfecto, quedo atento a tus documentos.",
    "Ya recibí tus documentos, los paso a revisión.",
    "Entiendo, {n}. ¿Qué mensualidad te acomoda mejor?",
    "Claro, sin presión. Cualquier duda aquí estoy.",
];

const OUT_CLOSING_WON: &[&str] = &[
    "¡Listo {n}! Ya quedó registrado tu pago. ¡Felicidades por tu auto! 🎉",
    "Te mando los datos para el depósito por este medio.",
    "Gracias por tu confianza, {n}. Te aviso cuando esté lista la entrega.",
    "Tu contrato ya está firmado, la entrega es el {d}.",
];

const OUT_CLOSING_LOST: &[&str] = &[
    "Entiendo, {n}. Si cambias de opinión aquí estoy.",
    "Gracias por tu tiempo, {n}. ¡Mucho éxito!",
    "Sin problema, te escribo más adelante por si hay otra promoción.",
];

const OUT_CLOSING_OPEN: &[&str] = &[
    "¿Pudiste revisar la información que te mandé?",
    "Hola {n}, ¿cómo vas con la decisión?",
    "Sin problema, te escribo la próxima semana para ver cómo vas.",
    "Te aparto la promoción hasta el {d}, ¿te parece?",
];

const OUT_SHORT: &[&str] =
    &["Con gusto 😊", "Quedo atento, {n}", "¡Gracias a ti!", "Claro que sí", "Perfecto, {n}", "Enseguida te confirmo"];

const BOT: &[&str] = &[
    "¡Hola! Gracias por escribir a Autofinanzas Platica 🚗. Un asesor te atenderá en unos minutos.",
    "Hola 👋 Recibimos tu mensaje. En breve un asesor se pone en contacto contigo.",
    "¡Gracias por tu interés! Nuestro horario es de lunes a sábado de 9:00 a 19:00.",
];

const AMOUNTS: &[&str] = &["3,500", "4,200", "5,800", "6,990", "8,450", "12,000", "15,500", "25,000"];
const DAYS: &[&str] = &["lunes", "martes", "miércoles", "jueves", "viernes", "sábado"];
const HOURS: &[&str] = &["9:30", "10:00", "11:30", "13:00", "16:00", "17:30", "18:00"];
const DISCOUNTS: &[&str] = &["5", "10", "15"];

/// Whose words a template is filled with.
#[derive(Clone, Copy, Debug)]
pub struct Cast<'a> {
    pub prospect: &'a str,
    pub executive: &'a str,
}

fn pick(rng: &mut impl Rng, list: &'static [&'static str]) -> &'static str {
    list.choose(rng).copied().unwrap_or("Ok")
}

/// Fills a template's placeholders.
pub fn render(template: &str, cast: Cast<'_>, rng: &mut impl Rng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (value, len) = match after.get(..3) {
            Some("{n}") => (cast.prospect, 3),
            Some("{e}") => (cast.executive, 3),
            Some("{m}") => (pick(rng, AMOUNTS), 3),
            Some("{d}") => (pick(rng, DAYS), 3),
            Some("{h}") => (pick(rng, HOURS), 3),
            Some("{p}") => (pick(rng, DISCOUNTS), 3),
            _ => ("{", 1),
        };
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Outcome of a chat, from the prospect's stage.
fn outcome_lists(stage: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match stage {
        "won" => (IN_CLOSING_WON, OUT_CLOSING_WON),
        "lost" => (IN_CLOSING_LOST, OUT_CLOSING_LOST),
        _ => (IN_CLOSING_OPEN, OUT_CLOSING_OPEN),
    }
}

/// A message from the prospect.
pub fn inbound(phase: Phase, stage: &str, cast: Cast<'_>, rng: &mut impl Rng) -> String {
    let list = if phase != Phase::Opening && rng.random_bool(0.15) {
        IN_SHORT
    } else {
        match phase {
            Phase::Opening => IN_OPENING,
            Phase::Questions => IN_QUESTIONS,
            Phase::Engaged => IN_ENGAGED,
            Phase::Closing => outcome_lists(stage).0,
        }
    };
    let template = pick(rng, list);
    render(template, cast, rng)
}

/// A message from the executive.
pub fn outbound(phase: Phase, stage: &str, cast: Cast<'_>, rng: &mut impl Rng) -> String {
    let list = if phase != Phase::Opening && rng.random_bool(0.15) {
        OUT_SHORT
    } else {
        match phase {
            Phase::Opening => OUT_OPENING,
            Phase::Questions => OUT_QUESTIONS,
            Phase::Engaged => OUT_ENGAGED,
            Phase::Closing => outcome_lists(stage).1,
        }
    };
    let template = pick(rng, list);
    render(template, cast, rng)
}

/// The auto-reply bot's greeting.
pub fn bot(rng: &mut impl Rng) -> String {
    pick(rng, BOT).to_owned()
}

/// A live inbound message for the simulator: a question, a follow-up or a short answer.
pub fn live_inbound(cast: Cast<'_>, rng: &mut impl Rng) -> String {
    let list = match rng.random_range(0..4) {
        0 => IN_QUESTIONS,
        1 => IN_ENGAGED,
        2 => IN_CLOSING_OPEN,
        _ => IN_SHORT,
    };
    let template = pick(rng, list);
    render(template, cast, rng)
}

/// A live reply for the simulator.
pub fn live_reply(cast: Cast<'_>, rng: &mut impl Rng) -> String {
    let list = match rng.random_range(0..4) {
        0 => OUT_QUESTIONS,
        1 => OUT_ENGAGED,
        2 => OUT_CLOSING_OPEN,
        _ => OUT_SHORT,
    };
    let template = pick(rng, list);
    render(template, cast, rng)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn templates_render_without_placeholders() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let cast = Cast { prospect: "Lucía", executive: "Ana" };
        for list in [
            IN_OPENING,
            IN_QUESTIONS,
            IN_ENGAGED,
            IN_CLOSING_WON,
            IN_CLOSING_LOST,
            IN_CLOSING_OPEN,
            IN_SHORT,
            OUT_OPENING,
            OUT_QUESTIONS,
            OUT_ENGAGED,
            OUT_CLOSING_WON,
            OUT_CLOSING_LOST,
            OUT_CLOSING_OPEN,
            OUT_SHORT,
            BOT,
        ] {
            for t in list {
                let body = render(t, cast, &mut rng);
                assert!(!body.contains('{') && !body.contains('}'), "{body}");
                assert!(platica_domain::validate::body("body", &body).is_ok());
            }
        }
        assert_eq!(render("Hola {n}, soy {e} {x}", cast, &mut rng), "Hola Lucía, soy Ana {x}");
        assert_eq!(Phase::of(0, 20), Phase::Opening);
        assert_eq!(Phase::of(19, 20), Phase::Closing);
    }
}
