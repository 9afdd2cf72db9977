//! Simulated prospects: Mexican names and mobile numbers, and what they write, all a function of
//! the seed.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FIRST: &[&str] = &[
    "María",
    "José",
    "Guadalupe",
    "Juan",
    "Ana",
    "Luis",
    "Fernanda",
    "Carlos",
    "Sofía",
    "Miguel",
    "Valeria",
    "Jorge",
    "Daniela",
    "Alejandro",
    "Ximena",
    "Ricardo",
    "Mariana",
    "Eduardo",
    "Paola",
    "Fernando",
    "Andrea",
    "Roberto",
    "Gabriela",
    "Arturo",
    "Karla",
    "Javier",
    "Lucía",
    "Héctor",
    "Renata",
    "Sergio",
    "Itzel",
    "Raúl",
    "Brenda",
    "Óscar",
    "Citlali",
    "Manuel",
    "Abril",
    "Diego",
    "Regina",
    "Emiliano",
];
const SECOND: &[&str] = &["", "", "", "Fernanda", "José", "Luisa", "Antonio", "del Carmen", "Alberto", "Isabel"];
const LAST: &[&str] = &[
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Ortiz",
    "Moreno",
    "Castillo",
    "Romero",
    "Álvarez",
    "Méndez",
    "Chávez",
    "Rivera",
    "Juárez",
    "Ramos",
    "Domínguez",
    "Herrera",
    "Medina",
    "Castro",
    "Vargas",
    "Guzmán",
    "Velázquez",
    "Salazar",
];
/// Area codes of big Mexican cities, each with the length of the local number that follows.
const AREAS: &[(&str, usize)] = &[
    ("55", 8),
    ("33", 8),
    ("81", 8),
    ("222", 7),
    ("442", 7),
    ("477", 7),
    ("664", 7),
    ("998", 7),
    ("999", 7),
    ("614", 7),
    ("667", 7),
    ("871", 7),
];

/// The conversation a prospect walks through, one stage per message.
const OPENERS: &[&str] = &[
    "Hola, buenas tardes",
    "Hola! Vi su anuncio en Facebook",
    "Buen día, me pasaron su contacto",
    "Hola, quisiera información por favor",
    "Qué tal, ¿siguen vendiendo?",
];
const QUESTIONS: &[&str] = &[
    "¿Cuánto cuesta el paquete básico?",
    "¿Tienen disponibilidad para esta semana?",
    "¿Hacen envíos a Guadalajara?",
    "¿Aceptan pago con tarjeta o solo transferencia?",
    "¿El precio ya incluye IVA?",
    "¿Tienen meses sin intereses?",
    "¿Cuánto tarda la entrega?",
    "¿Me puede mandar el catálogo?",
    "¿Qué garantía tiene?",
    "¿Tienen tienda física o solo en línea?",
    "¿Hay descuento si compro varios?",
    "¿Lo tienen en otro color?",
];
const FOLLOW_UPS: &[&str] = &[
    "Ok, déjeme lo platico con mi esposo",
    "Perfecto, ¿y cómo le hago para apartarlo?",
    "Me parece bien, ¿me manda los datos para el depósito?",
    "Está un poco caro, ¿no hay algo más económico?",
    "Va, ¿a qué hora me pueden llamar?",
    "Gracias, lo reviso y le aviso",
    "¿Me puede mandar la ubicación?",
    "Sí me interesa, ¿qué sigue?",
];
const CLOSERS: &[&str] = &[
    "Listo, ya hice la transferencia",
    "Muchas gracias por la atención",
    "Perfecto, quedo pendiente",
    "Gracias! Saludos",
    "Ya le mandé el comprobante",
];
const REPLIES: &[&str] = &[
    "Sí, gracias",
    "Ok, perfecto",
    "¿Y eso cuánto sería en total?",
    "Gracias por la información",
    "Ahorita no puedo, ¿le escribo más tarde?",
    "Sí me interesa",
    "👍",
    "Va, me parece bien",
    "¿Me lo puede explicar otra vez?",
    "Déjeme verlo y le confirmo",
];
const CAPTIONS: &[&str] = &[
    "¿Tienen este modelo?",
    "Este es el que me gustó",
    "Aquí está el comprobante",
    "Así quedó la instalación",
    "¿Lo tienen parecido a este?",
];
const BUTTONS: &[(&str, &str)] = &[
    ("btn_si", "Sí, me interesa"),
    ("btn_info", "Más información"),
    ("btn_llamar", "Quiero que me llamen"),
    ("btn_no", "No, gracias"),
];

/// One simulated prospect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prospect {
    /// Profile name (`contacts[].profile.name`).
    pub name: String,
    /// WhatsApp id, digits only: `521` + 10 digits.
    pub wa_id: String,
}

/// What a prospect sends.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Content {
    Text {
        body: String,
    },
    /// An image with a caption (a made-up media id).
    Image {
        caption: String,
        media_id: String,
    },
    /// A tap on a quick-reply button.
    Button {
        id: String,
        title: String,
    },
}

/// One generated message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    pub prospect: usize,
    pub content: Content,
}

/// The deterministic stream of prospects' messages.
#[derive(Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    prospects: Vec<Prospect>,
    stage: Vec<u32>,
}

impl Generator {
    /// `prospects` distinct prospects (at least one) from the seed.
    pub fn new(seed: u64, prospects: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut list: Vec<Prospect> = Vec::with_capacity(prospects.max(1));
        while list.len() < prospects.max(1) {
            let p = prospect(&mut rng);
            if !list.iter().any(|q| q.wa_id == p.wa_id) {
                list.push(p);
            }
        }
        let stage = vec![0; list.len()];
        Self { rng, prospects: list, stage }
    }

    pub fn prospects(&self) -> &[Prospect] {
        &self.prospects
    }

    /// The prospect with this WhatsApp id, if generated.
    pub fn find(&self, wa_id: &str) -> Option<&Prospect> {
        self.prospects.iter().find(|p| p.wa_id == wa_id)
    }

    /// The next message: a random prospect, who says the next thing of their conversation
    /// (greeting, questions, follow-ups, closing), now and then an image or a button tap.
    pub fn next_message(&mut self) -> Generated {
        let i = self.rng.random_range(0..self.prospects.len());
        let stage = self.stage[i];
        self.stage[i] = stage.saturating_add(1);
        let roll: f64 = self.rng.random();
        let content = if stage > 0 && roll < 0.07 {
            Content::Image {
                caption: pick(&mut self.rng, CAPTIONS),
                media_id: format!("{}", self.rng.random_range(100_000_000_000_000u64..999_999_999_999_999)),
            }
        } else if stage > 0 && roll < 0.12 {
            let (id, title) = BUTTONS.choose(&mut self.rng).copied().unwrap_or(("btn_si", "Sí, me interesa"));
            Content::Button { id: id.to_owned(), title: title.to_owned() }
        } else {
            let lines = match stage {
                0 => OPENERS,
                1 | 2 => QUESTIONS,
                3 | 4 => FOLLOW_UPS,
                5 => CLOSERS,
                _ => QUESTIONS,
            };
            Content::Text { body: pick(&mut self.rng, lines) }
        };
        Generated { prospect: i, content }
    }

    /// What someone answers to a business message.
    pub fn reply_text(&mut self) -> String {
        pick(&mut self.rng, REPLIES)
    }
}

fn pick<R: Rng + ?Sized>(rng: &mut R, lines: &[&str]) -> String {
    lines.choose(rng).copied().unwrap_or("Hola").to_owned()
}

fn prospect<R: Rng + ?Sized>(rng: &mut R) -> Prospect {
    let first = pick(rng, FIRST);
    let second = pick(rng, SECOND);
    let last = pick(rng, LAST);
    let name = if second.is_empty() || second == first {
        format!("{first} {last}")
    } else {
        format!("{first} {second} {last}")
    };
    let (area, digits) = AREAS.choose(rng).copied().unwrap_or(("55", 8));
    let local: String =
        (0..digits).map(|k| char::from(b'0' + rng.random_range(if k == 0 { 2 } else { 0 }..10u8))).collect();
    Prospect { name, wa_id: format!("521{area}{local}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = Generator::new(11, 30);
        let mut b = Generator::new(11, 30);
        let mut c = Generator::new(12, 30);
        assert_eq!(a.prospects(), b.prospects());
        assert_ne!(a.prospects(), c.prospects());
        let sa: Vec<Generated> = (0..200).map(|_| a.next_message()).collect();
        let sb: Vec<Generated> = (0..200).map(|_| b.next_message()).collect();
        let sc: Vec<Generated> = (0..200).map(|_| c.next_message()).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn prospects_are_distinct_mexican_mobiles_and_messages_varied() {
        let mut g = Generator::new(3, 100);
        let mut ids: Vec<&str> = g.prospects().iter().map(|p| p.wa_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 100);
        for p in g.prospects() {
            assert!(p.wa_id.starts_with("521") && p.wa_id.len() == 13, "{p:?}");
            assert!(p.wa_id.bytes().all(|b| b.is_ascii_digit()));
            assert!(p.name.split(' ').count() >= 2);
        }
        let msgs: Vec<Generated> = (0..500).map(|_| g.next_message()).collect();
        assert!(msgs.iter().any(|m| matches!(m.content, Content::Image { .. })));
        assert!(msgs.iter().any(|m| matches!(m.content, Content::Button { .. })));
        let texts: std::collections::BTreeSet<&Content> =
            msgs.iter().map(|m| &m.content).filter(|c| matches!(c, Content::Text { .. })).collect();
        assert!(texts.len() > 20);
    }
}
