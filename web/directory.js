// The directory of the tenant: its users and teams by id (every screen names people and teams
// from it) and the signed-in user.
import { get } from './api.js';
import { t } from './i18n.js';

/** Users and teams of the tenant, by id (for names), and the signed-in user. */
export const dir = { me: null, users: new Map(), teams: new Map() };

export async function loadDirectory() {
  const [users, teams] = await Promise.all([get('/users'), get('/teams')]);
  dir.users = new Map(users.map((u) => [u.user_id, u]));
  dir.teams = new Map(teams.map((x) => [x.team_id, x]));
}

export const userName = (id) => (id == null ? t('inbox.unassigned') : dir.users.get(id)?.display_name ?? `#${id}`);
export const teamName = (id) => (id == null ? t('common.none') : dir.teams.get(id)?.name ?? `#${id}`);
export const executives = () =>
  [...dir.users.values()].filter((u) => u.role === 'executive' && u.active).sort((a, b) => a.display_name.localeCompare(b.display_name));
export const admins = () =>
  [...dir.users.values()].filter((u) => u.role === 'admin' && u.active).sort((a, b) => a.display_name.localeCompare(b.display_name));
export const teamList = () => [...dir.teams.values()].sort((a, b) => a.name.localeCompare(b.name));
/** The teams the signed-in user may pick: all for an admin, their own otherwise. */
export const myTeams = () => teamList().filter((x) => dir.me?.role === 'admin' || (dir.me?.team_ids ?? []).includes(x.team_id));
