//! Prospect names and phone numbers: Spanish-flavoured names (a first name and two surnames) and
//! Mexico City mobile numbers in E.164.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::IndexedRandom;

const FIRST_NAMES: &[&str] = &[
    "José",
    "María",
    "Juan",
    "Guadalupe",
    "Francisco",
    "Lucía",
    "Miguel Ángel",
    "Ximena",
    "Alejandro",
    "Sofía",
    "Jesús",
    "Valentina",
    "Fernando",
    "Camila",
    "Eduardo",
    "Regina",
    "Roberto",
    "Renata",
    "Raúl",
    "Mónica",
    "Héctor",
    "Verónica",
    "Sergio",
    "Adriana",
    "Arturo",
    "Gabriela",
    "Óscar",
    "Beatriz",
    "Rubén",
    "Leticia",
    "Iván",
    "Araceli",
    "Rodrigo",
    "Rocío",
    "Martín",
    "Itzel",
    "Emiliano",
    "Natalia",
    "Tomás",
    "Alondra",
    "Ernesto",
    "Maricela",
    "Gerardo",
    "Yolanda",
    "Alfonso",
    "Paulina",
    "Ramón",
    "Jimena",
    "Joaquín",
    "Begoña",
    "Ángel",
    "Dolores",
    "Salvador",
    "Inés",
    "Germán",
    "Noemí",
    "Nicolás",
    "Marisol",
    "Julián",
    "Elena",
];

const SURNAMES: &[&str] = &[
    "García",
    "Martínez",
    "López",
    "González",
    "Rodríguez",
    "Pérez",
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
    "Muñoz",
    "Rojas",
    "Contreras",
    "Salazar",
    "Luna",
    "Ortega",
    "Santiago",
    "Guerrero",
    "Bautista",
    "Estrada",
    "Cortés",
    "Núñez",
    "Ibáñez",
    "Peña",
    "Cárdenas",
    "Ríos",
    "Olvera",
    "Zúñiga",
    "Quiñones",
    "Arellano",
    "Beltrán",
    "Solís",
];

/// A full name: a first name and two surnames, e.g. "Lucía Núñez Ortega".
pub fn full_name(rng: &mut impl Rng) -> String {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("José");
    let paternal = SURNAMES.choose(rng).copied().unwrap_or("García");
    let maternal = SURNAMES.choose(rng).copied().unwrap_or("López");
    format!("{first} {paternal} {maternal}")
}

/// The first name of a full name made by [`full_name`] ("Miguel Ángel" stays whole).
pub fn first_name(full: &str) -> &str {
    FIRST_NAMES
        .iter()
        .copied()
        .find(|f| full.starts_with(f) && full[f.len()..].starts_with(' '))
        .unwrap_or_else(|| full.split(' ').next().unwrap_or(full))
}

/// Hands out unique Mexico City mobile numbers: `+521 55 XXXX XXXX` in E.164 (`+52155XXXXXXXX`).
#[derive(Default)]
pub struct Phones {
    used: HashSet<u32>,
}

impl Phones {
    pub fn next(&mut self, rng: &mut impl Rng) -> String {
        loop {
            let local: u32 = rng.random_range(10_000_000..100_000_000);
            if self.used.insert(local) {
                return format!("+52155{local}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn names_and_phones_are_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut phones = Phones::default();
        for _ in 0..500 {
            let name = full_name(&mut rng);
            assert!(platica_domain::validate::name("name", &name).is_ok());
            assert!(FIRST_NAMES.contains(&first_name(&name)), "{name}");
            let phone = phones.next(&mut rng);
            assert_eq!(platica_domain::validate::phone("phone", &phone).as_deref(), Ok(phone.as_str()));
            assert_eq!(phone.len(), 14);
        }
        assert_eq!(first_name("Miguel Ángel Peña Luna"), "Miguel Ángel");
    }
}
