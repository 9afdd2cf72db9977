//! The demo tenant's fixed cast: its slug, teams and staff, with their documented passwords.
//!
//! Everything here is constant, so the banner can be rebuilt for a tenant seeded by an earlier run.

use platica_domain::Role;

/// Slug of the demo tenant (what a login's `tenant` field names).
pub const TENANT_SLUG: &str = "demo";
/// Display name of the demo tenant.
pub const TENANT_NAME: &str = "Platica Demo";
/// The two sales floors of the original incident, in creation order.
pub const TEAMS: [&str; 2] = ["BOOM", "VEN"];
/// Index of BOOM in [`TEAMS`].
pub const BOOM: usize = 0;
/// Index of VEN in [`TEAMS`].
pub const VEN: usize = 1;

/// Password of the admin.
pub const ADMIN_PASSWORD: &str = "platica-admin";
/// Password of both coordinators.
pub const COORDINATOR_PASSWORD: &str = "platica-coord";
/// Password of every executive.
pub const EXECUTIVE_PASSWORD: &str = "platica-ventas";

/// One member of staff.
#[derive(Clone, Copy, Debug)]
pub struct Staff {
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
    /// Coordinators: the teams they coordinate (indices into [`TEAMS`]). Executives: their home
    /// team, where most of their prospects sit. Empty for the admin.
    pub teams: &'static [usize],
    pub operational: bool,
}

impl Staff {
    pub fn password(&self) -> &'static str {
        match self.role {
            Role::Admin => ADMIN_PASSWORD,
            Role::Coordinator => COORDINATOR_PASSWORD,
            Role::Executive => EXECUTIVE_PASSWORD,
        }
    }

    /// The first word of the name, as people sign chat messages.
    pub fn first_name(&self) -> &'static str {
        self.name.split(' ').next().unwrap_or(self.name)
    }
}

const fn staff(email: &'static str, name: &'static str, role: Role, teams: &'static [usize]) -> Staff {
    Staff { email, name, role, teams, operational: true }
}

/// The admin.
pub const ADMIN: Staff = staff("admin@demo.platica.test", "Patricia Lozano", Role::Admin, &[]);

/// The coordinators: one coordinates BOOM only, the other both teams (a coordinator may
/// coordinate several teams).
pub const COORDINATORS: [Staff; 2] = [
    staff("mariana.rios@demo.platica.test", "Mariana Ríos", Role::Coordinator, &[BOOM]),
    staff("jorge.castaneda@demo.platica.test", "Jorge Castañeda", Role::Coordinator, &[BOOM, VEN]),
];

/// Index in [`EXECUTIVES`] of the executive with prospects in both teams (the original incident:
/// her prospects sat in a team her dashboard filtered out).
pub const BOTH_TEAMS_EXECUTIVE: usize = 0;
/// Index in [`EXECUTIVES`] of the non-operational executive, who still has (and sees) prospects.
pub const NON_OPERATIONAL_EXECUTIVE: usize = 6;

/// The executives (salespeople), six per team.
pub const EXECUTIVES: [Staff; 12] = [
    staff("ana.torres@demo.platica.test", "Ana Torres", Role::Executive, &[BOOM]),
    staff("luis.hernandez@demo.platica.test", "Luis Hernández", Role::Executive, &[BOOM]),
    staff("carlos.mendoza@demo.platica.test", "Carlos Mendoza", Role::Executive, &[BOOM]),
    staff("valeria.ortiz@demo.platica.test", "Valeria Ortiz", Role::Executive, &[BOOM]),
    staff("diego.navarro@demo.platica.test", "Diego Navarro", Role::Executive, &[BOOM]),
    staff("fernanda.cruz@demo.platica.test", "Fernanda Cruz", Role::Executive, &[BOOM]),
    Staff {
        operational: false, ..staff("sofia.ramirez@demo.platica.test", "Sofía Ramírez", Role::Executive, &[VEN])
    },
    staff("ricardo.vega@demo.platica.test", "Ricardo Vega", Role::Executive, &[VEN]),
    staff("paola.jimenez@demo.platica.test", "Paola Jiménez", Role::Executive, &[VEN]),
    staff("andres.morales@demo.platica.test", "Andrés Morales", Role::Executive, &[VEN]),
    staff("daniela.flores@demo.platica.test", "Daniela Flores", Role::Executive, &[VEN]),
    staff("javier.ruiz@demo.platica.test", "Javier Ruiz", Role::Executive, &[VEN]),
];

/// Every member of staff, in creation order: admin, coordinators, executives.
pub fn everyone() -> impl Iterator<Item = &'static Staff> {
    std::iter::once(&ADMIN).chain(COORDINATORS.iter()).chain(EXECUTIVES.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_is_valid_input() {
        let mut emails = std::collections::BTreeSet::new();
        for s in everyone() {
            assert_eq!(platica_domain::validate::email("email", s.email).as_deref(), Ok(s.email));
            assert!(platica_domain::validate::name("name", s.name).is_ok());
            assert!(platica_domain::validate::password("password", s.password()).is_ok());
            assert!(emails.insert(s.email), "duplicate e-mail {}", s.email);
        }
        assert_eq!(EXECUTIVES.iter().filter(|e| !e.operational).count(), 1);
        assert!(!EXECUTIVES[NON_OPERATIONAL_EXECUTIVE].operational);
        assert!(COORDINATORS.iter().any(|c| c.teams.len() == TEAMS.len()));
    }
}
