// Translations (English and Spanish) and localised dates. Every key of `en` must exist in `es`:
// the end-to-end tests check KEYS against both tables and scan the Spanish UI for English text.

export const MESSAGES = {
  en: {
    'app.name': 'Platica',
    'app.tagline': 'Your WhatsApp sales inbox',
    'login.title': 'Sign in',
    'login.tenant': 'Organisation',
    'login.email': 'E-mail',
    'login.password': 'Password',
    'login.submit': 'Sign in',
    'login.busy': 'Signing in…',
    'nav.inbox': 'Inbox',
    'nav.admin': 'Admin',
    'nav.logout': 'Log out',
    'nav.language': 'Language',
    'nav.main': 'Main menu',
    'nav.calls': 'Calls',
    'calls.title': 'Call monitor',
    'calls.today': 'Today',
    'calls.total': 'Calls',
    'calls.active': 'Active now',
    'calls.noActive': 'No calls in progress.',
    'calls.outcomes': 'Outcomes',
    'calls.noOutcomes': 'No outcomes yet today.',
    'calls.scheduled': 'Scheduled calls',
    'calls.noScheduled': 'No calls scheduled.',
    'calls.status.queued': 'Queued',
    'calls.status.ringing': 'Ringing',
    'calls.status.in_progress': 'In progress',
    'calls.status.completed': 'Completed',
    'calls.status.no_answer': 'No answer',
    'calls.status.failed': 'Failed',
    'bell.title': 'Notifications',
    'bell.markAll': 'Mark all read',
    'bell.empty': 'No notifications.',
    'role.admin': 'Admin',
    'role.coordinator': 'Coordinator',
    'role.executive': 'Executive',
    'conn.lost': 'Connection lost. Reconnecting…',
    'conn.back': 'Back online',
    'version.available': 'A new version of Platica is available.',
    'version.reload': 'Reload',
    'inbox.title': 'Conversations',
    'inbox.search': 'Search by name or phone',
    'inbox.filters': 'Filters',
    'inbox.allTeams': 'All teams',
    'inbox.allExecutives': 'All executives',
    'inbox.unassigned': 'Unassigned',
    'inbox.status': 'Status',
    'inbox.statusAll': 'Any status',
    'inbox.statusOpen': 'Open',
    'inbox.statusClosed': 'Closed',
    'inbox.unreadOnly': 'Unread only',
    'inbox.closedChip': 'Closed',
    'inbox.counts': '{total} conversations · {unread} unread',
    'inbox.empty': 'No conversations match.',
    'inbox.loading': 'Loading…',
    'inbox.loadMore': 'Load more',
    'inbox.end': 'That is all.',
    'inbox.bot': 'Bot',
    'inbox.unreadBadge': '{n} unread',
    'inbox.select': 'Select',
    'inbox.selectRow': 'Select {name}',
    'inbox.cancelSelect': 'Cancel selection',
    'inbox.selected': '{n} selected',
    'inbox.selectAllMatching': 'Select all {n} matching',
    'inbox.allMatchingSelected': 'All {n} matching this filter are selected',
    'inbox.allMatchingHint': 'Remove the unread and status filters to select everything matching.',
    'inbox.reassignSelected': 'Reassign…',
    'inbox.pick': 'Pick a conversation to read it.',
    'inbox.list': 'Conversation list',
    'conv.back': 'Back',
    'conv.messages': 'Messages',
    'conv.reply': 'Write a reply',
    'conv.replyHint': 'Enter sends, Shift+Enter adds a line',
    'conv.send': 'Send',
    'conv.older': 'Load older messages',
    'conv.noMessages': 'No messages yet.',
    'conv.status.queued': 'Queued',
    'conv.status.sent': 'Sent',
    'conv.status.delivered': 'Delivered',
    'conv.status.read': 'Read',
    'conv.status.failed': 'Failed',
    'conv.closed': 'This conversation is closed.',
    'conv.close': 'Close conversation',
    'conv.reopen': 'Reopen conversation',
    'conv.revoked': 'This conversation is no longer visible to you.',
    'conv.botActive': 'Bot is answering',
    'conv.botOff': 'Auto-reply is off',
    'conv.botPaused': 'Bot paused',
    'conv.botPause': 'Pause bot',
    'conv.botResume': 'Resume bot',
    'conv.botResumesAt': 'resumes {time}',
    'conv.details': 'Prospect details',
    'prospect.phone': 'Phone',
    'prospect.team': 'Team',
    'prospect.executive': 'Executive',
    'prospect.stage': 'Stage',
    'prospect.history': 'Assignment history',
    'prospect.noHistory': 'Never reassigned.',
    'prospect.historyRow': '{from} → {to}',
    'prospect.by': 'by {name}',
    'stage.new': 'New',
    'stage.contacted': 'Contacted',
    'stage.interested': 'Interested',
    'stage.negotiating': 'Negotiating',
    'stage.won': 'Won',
    'stage.lost': 'Lost',
    'reassign.title': 'Reassign',
    'reassign.team': 'New team',
    'reassign.executive': 'New executive',
    'reassign.keep': 'Keep as is',
    'reassign.submit': 'Reassign',
    'reassign.done': 'Reassigned.',
    'bulk.title': 'Reassign prospects',
    'bulk.count': '{n} prospects will move.',
    'bulk.confirm': 'Move {n} prospects?',
    'bulk.confirmTo': 'To: {target}',
    'bulk.next': 'Continue',
    'bulk.run': 'Move them',
    'bulk.running': 'Moving prospects…',
    'bulk.result': 'Moved {moved} of {matched} prospects ({unchanged} were already there).',
    'bulk.needTarget': 'Choose a team or an executive.',
    'common.cancel': 'Cancel',
    'common.close': 'Close',
    'common.save': 'Save',
    'common.saved': 'Saved.',
    'common.create': 'Create',
    'common.delete': 'Delete',
    'common.edit': 'Edit',
    'common.yes': 'Yes',
    'common.no': 'No',
    'common.none': '—',
    'common.error': 'Something went wrong: {message}',
    'common.networkError': 'Cannot reach the server. Check your connection.',
    'common.sessionExpired': 'Your session has ended. Please sign in again.',
    'admin.title': 'Administration',
    'admin.users': 'Users',
    'admin.teams': 'Teams',
    'admin.tokens': 'API tokens',
    'admin.settings': 'Settings',
    'users.name': 'Name',
    'users.email': 'E-mail',
    'users.role': 'Role',
    'users.teams': 'Coordinates',
    'users.operational': 'Operational',
    'users.active': 'Active',
    'users.password': 'Password',
    'users.new': 'New user',
    'users.resetPassword': 'Reset password',
    'users.newPassword': 'New password (8 characters or more)',
    'users.passwordReset': 'Password changed; the user was signed out.',
    'users.created': 'User created.',
    'teams.name': 'Team name',
    'teams.new': 'New team',
    'teams.rename': 'Rename',
    'teams.prospects': 'Prospects',
    'teams.coordinators': 'Coordinators',
    'teams.deleteConfirm': 'Delete team {name}?',
    'tokens.name': 'Purpose',
    'tokens.user': 'Acts as',
    'tokens.expires': 'Expires',
    'tokens.never': 'Never',
    'tokens.expiresOptional': 'Expires (optional)',
    'tokens.none': 'No API tokens yet.',
    'tokens.lastUsed': 'Last used',
    'tokens.new': 'New token',
    'tokens.secret': 'Copy this token now: it will not be shown again.',
    'tokens.revoke': 'Revoke',
    'tokens.revoked': 'Revoked',
    'tokens.revokeConfirm': 'Revoke token {name}? Integrations using it stop at once.',
    'settings.version': 'Web version',
    'settings.current': 'Current version: {version}',
    'settings.noVersion': 'No version published yet.',
    'settings.publish': 'Publish new web version',
    'settings.newVersion': 'New version',
    'settings.force': 'Force every open tab to reload now',
    'settings.published': 'Version {version} published.',
    'settings.all': 'All settings',
    'settings.key': 'Key',
    'settings.value': 'Value',
    'settings.updated': 'Updated',
  },
  es: {
    'app.name': 'Platica',
    'app.tagline': 'Tu bandeja de ventas por WhatsApp',
    'login.title': 'Iniciar sesión',
    'login.tenant': 'Organización',
    'login.email': 'Correo electrónico',
    'login.password': 'Contraseña',
    'login.submit': 'Entrar',
    'login.busy': 'Entrando…',
    'nav.inbox': 'Bandeja',
    'nav.admin': 'Administración',
    'nav.logout': 'Cerrar sesión',
    'nav.language': 'Idioma',
    'nav.main': 'Menú principal',
    'nav.calls': 'Llamadas',
    'calls.title': 'Monitor de llamadas',
    'calls.today': 'Hoy',
    'calls.total': 'Llamadas',
    'calls.active': 'En curso',
    'calls.noActive': 'No hay llamadas en curso.',
    'calls.outcomes': 'Resultados',
    'calls.noOutcomes': 'Todavía no hay resultados hoy.',
    'calls.scheduled': 'Llamadas programadas',
    'calls.noScheduled': 'No hay llamadas programadas.',
    'calls.status.queued': 'En cola',
    'calls.status.ringing': 'Sonando',
    'calls.status.in_progress': 'En curso',
    'calls.status.completed': 'Completada',
    'calls.status.no_answer': 'Sin respuesta',
    'calls.status.failed': 'Fallida',
    'bell.title': 'Notificaciones',
    'bell.markAll': 'Marcar todo como leído',
    'bell.empty': 'Sin notificaciones.',
    'role.admin': 'Administrador',
    'role.coordinator': 'Coordinador',
    'role.executive': 'Ejecutivo',
    'conn.lost': 'Se perdió la conexión. Reconectando…',
    'conn.back': 'Conexión restablecida',
    'version.available': 'Hay una versión nueva de Platica.',
    'version.reload': 'Recargar',
    'inbox.title': 'Conversaciones',
    'inbox.search': 'Buscar por nombre o teléfono',
    'inbox.filters': 'Filtros',
    'inbox.allTeams': 'Todos los equipos',
    'inbox.allExecutives': 'Todos los ejecutivos',
    'inbox.unassigned': 'Sin asignar',
    'inbox.status': 'Estado',
    'inbox.statusAll': 'Cualquier estado',
    'inbox.statusOpen': 'Abiertas',
    'inbox.statusClosed': 'Cerradas',
    'inbox.unreadOnly': 'Solo no leídas',
    'inbox.closedChip': 'Cerrada',
    'inbox.counts': '{total} conversaciones · {unread} sin leer',
    'inbox.empty': 'Ninguna conversación coincide.',
    'inbox.loading': 'Cargando…',
    'inbox.loadMore': 'Cargar más',
    'inbox.end': 'Eso es todo.',
    'inbox.bot': 'Bot',
    'inbox.unreadBadge': '{n} sin leer',
    'inbox.select': 'Seleccionar',
    'inbox.selectRow': 'Seleccionar a {name}',
    'inbox.cancelSelect': 'Cancelar selección',
    'inbox.selected': '{n} seleccionadas',
    'inbox.selectAllMatching': 'Seleccionar las {n} que coinciden',
    'inbox.allMatchingSelected': 'Están seleccionadas las {n} que coinciden con el filtro',
    'inbox.allMatchingHint': 'Quita los filtros de no leídas y estado para seleccionar todo lo que coincide.',
    'inbox.reassignSelected': 'Reasignar…',
    'inbox.pick': 'Elige una conversación para leerla.',
    'inbox.list': 'Lista de conversaciones',
    'conv.back': 'Volver',
    'conv.messages': 'Mensajes',
    'conv.reply': 'Escribe una respuesta',
    'conv.replyHint': 'Intro envía, Mayús+Intro agrega una línea',
    'conv.send': 'Enviar',
    'conv.older': 'Cargar mensajes anteriores',
    'conv.noMessages': 'Aún no hay mensajes.',
    'conv.status.queued': 'En cola',
    'conv.status.sent': 'Enviado',
    'conv.status.delivered': 'Entregado',
    'conv.status.read': 'Leído',
    'conv.status.failed': 'Falló',
    'conv.closed': 'Esta conversación está cerrada.',
    'conv.close': 'Cerrar conversación',
    'conv.reopen': 'Reabrir conversación',
    'conv.revoked': 'Ya no tienes acceso a esta conversación.',
    'conv.botActive': 'El bot está respondiendo',
    'conv.botOff': 'Respuesta automática desactivada',
    'conv.botPaused': 'Bot en pausa',
    'conv.botPause': 'Pausar bot',
    'conv.botResume': 'Reanudar bot',
    'conv.botResumesAt': 'se reanuda {time}',
    'conv.details': 'Datos del prospecto',
    'prospect.phone': 'Teléfono',
    'prospect.team': 'Equipo',
    'prospect.executive': 'Ejecutivo',
    'prospect.stage': 'Etapa',
    'prospect.history': 'Historial de asignaciones',
    'prospect.noHistory': 'Nunca se ha reasignado.',
    'prospect.historyRow': '{from} → {to}',
    'prospect.by': 'por {name}',
    'stage.new': 'Nuevo',
    'stage.contacted': 'Contactado',
    'stage.interested': 'Interesado',
    'stage.negotiating': 'En negociación',
    'stage.won': 'Ganado',
    'stage.lost': 'Perdido',
    'reassign.title': 'Reasignar',
    'reassign.team': 'Equipo nuevo',
    'reassign.executive': 'Ejecutivo nuevo',
    'reassign.keep': 'Sin cambio',
    'reassign.submit': 'Reasignar',
    'reassign.done': 'Reasignado.',
    'bulk.title': 'Reasignar prospectos',
    'bulk.count': 'Se moverán {n} prospectos.',
    'bulk.confirm': '¿Mover {n} prospectos?',
    'bulk.confirmTo': 'A: {target}',
    'bulk.next': 'Continuar',
    'bulk.run': 'Moverlos',
    'bulk.running': 'Moviendo prospectos…',
    'bulk.result': 'Se movieron {moved} de {matched} prospectos ({unchanged} ya estaban ahí).',
    'bulk.needTarget': 'Elige un equipo o un ejecutivo.',
    'common.cancel': 'Cancelar',
    'common.close': 'Cerrar',
    'common.save': 'Guardar',
    'common.saved': 'Guardado.',
    'common.create': 'Crear',
    'common.delete': 'Eliminar',
    'common.edit': 'Editar',
    'common.yes': 'Sí',
    'common.no': 'No',
    'common.none': '—',
    'common.error': 'Algo salió mal: {message}',
    'common.networkError': 'No se puede conectar con el servidor. Revisa tu conexión.',
    'common.sessionExpired': 'Tu sesión terminó. Vuelve a iniciar sesión.',
    'admin.title': 'Administración',
    'admin.users': 'Usuarios',
    'admin.teams': 'Equipos',
    'admin.tokens': 'Tokens de API',
    'admin.settings': 'Configuración',
    'users.name': 'Nombre',
    'users.email': 'Correo',
    'users.role': 'Rol',
    'users.teams': 'Coordina',
    'users.operational': 'Operativo',
    'users.active': 'Activo',
    'users.password': 'Contraseña',
    'users.new': 'Usuario nuevo',
    'users.resetPassword': 'Cambiar contraseña',
    'users.newPassword': 'Contraseña nueva (8 caracteres o más)',
    'users.passwordReset': 'Contraseña cambiada; se cerró la sesión del usuario.',
    'users.created': 'Usuario creado.',
    'teams.name': 'Nombre del equipo',
    'teams.new': 'Equipo nuevo',
    'teams.rename': 'Renombrar',
    'teams.prospects': 'Prospectos',
    'teams.coordinators': 'Coordinadores',
    'teams.deleteConfirm': '¿Eliminar el equipo {name}?',
    'tokens.name': 'Uso',
    'tokens.user': 'Actúa como',
    'tokens.expires': 'Vence',
    'tokens.never': 'Nunca',
    'tokens.expiresOptional': 'Vence (opcional)',
    'tokens.none': 'Aún no hay tokens de API.',
    'tokens.lastUsed': 'Último uso',
    'tokens.new': 'Token nuevo',
    'tokens.secret': 'Copia este token ahora: no se volverá a mostrar.',
    'tokens.revoke': 'Revocar',
    'tokens.revoked': 'Revocado',
    'tokens.revokeConfirm': '¿Revocar el token {name}? Las integraciones que lo usan se detienen al instante.',
    'settings.version': 'Versión web',
    'settings.current': 'Versión actual: {version}',
    'settings.noVersion': 'Aún no se ha publicado ninguna versión.',
    'settings.publish': 'Publicar nueva versión web',
    'settings.newVersion': 'Versión nueva',
    'settings.force': 'Obligar a recargar todas las pestañas abiertas ahora',
    'settings.published': 'Versión {version} publicada.',
    'settings.all': 'Toda la configuración',
    'settings.key': 'Clave',
    'settings.value': 'Valor',
    'settings.updated': 'Actualizado',
  },
};

/** Every message key (the English table is the reference). */
export const KEYS = Object.keys(MESSAGES.en);
export const LANGUAGES = [
  { code: 'es', name: 'Español' },
  { code: 'en', name: 'English' },
];
const STORAGE_KEY = 'platica.lang';

function initialLang() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored && MESSAGES[stored]) return stored;
  } catch {
    // storage disabled
  }
  for (const l of globalThis.navigator?.languages ?? [globalThis.navigator?.language ?? 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (MESSAGES[base]) return base;
  }
  return 'en';
}

let lang = initialLang();
const listeners = new Set();

export function getLang() {
  return lang;
}

/** Switches the language, stores the choice and tells every listener (views re-render). */
export function setLang(next) {
  if (!MESSAGES[next] || next === lang) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // storage disabled: the choice lasts for this page
  }
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The message `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = MESSAGES[lang][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? formatValue(vars[k]) : `{${k}}`));
}

function formatValue(v) {
  return typeof v === 'number' ? new Intl.NumberFormat(lang).format(v) : String(v);
}

export function fmtNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}

/** "14:05" today, "ayer"/"yesterday", a weekday within a week, else a short date. */
export function fmtShort(iso, now = new Date()) {
  if (!iso) return '';
  const d = new Date(iso);
  const startOfDay = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((startOfDay(now) - startOfDay(d)) / 86400000);
  if (days <= 0) return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(d);
  if (days === 1) return new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }).format(-1, 'day');
  if (days < 7) return new Intl.DateTimeFormat(lang, { weekday: 'short' }).format(d);
  return new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' }).format(d);
}

/** "hace 5 min" / "5 min ago" for recent times, else like fmtShort. */
export function fmtRelative(iso, now = new Date()) {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto', style: 'short' });
  const abs = Math.abs(seconds);
  if (abs < 45) return rtf.format(0, 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 6 * 3600) return rtf.format(Math.round(seconds / 3600), 'hour');
  return fmtShort(iso, now);
}

export function fmtDateTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function fmtTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function fmtDay(iso) {
  return new Intl.DateTimeFormat(lang, { weekday: 'long', day: 'numeric', month: 'long' }).format(new Date(iso));
}
