// The sign-in screen: organisation (tenant slug), e-mail and password.
import { post, saveSession } from './api.js';
import { LANGUAGES, getLang, setLang, t } from './i18n.js';
import { clear, fieldError, field, h, select } from './ui.js';

const TENANT_KEY = 'platica.tenant';

export function renderLogin(root, onDone) {
  let lastTenant = '';
  try {
    lastTenant = localStorage.getItem(TENANT_KEY) ?? '';
  } catch {
    // storage disabled
  }
  const tenant = h('input', { name: 'tenant', autocomplete: 'organization', value: lastTenant, placeholder: 'demo', autocapitalize: 'none', spellcheck: 'false' });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, t('login.submit'));
  const form = h('form', { class: 'login-form', novalidate: true },
    h('h1', {}, t('login.title')),
    field(t('login.tenant'), tenant),
    field(t('login.email'), email),
    field(t('login.password'), password),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    submit.textContent = t('login.busy');
    try {
      const body = { email: email.value.trim(), password: password.value };
      if (tenant.value.trim()) body.tenant = tenant.value.trim();
      const r = await post('/auth/login', body);
      try {
        localStorage.setItem(TENANT_KEY, tenant.value.trim());
      } catch {
        // storage disabled
      }
      saveSession(r.token, r.user);
      await onDone(r.user);
    } catch (err) {
      fieldError(form, err);
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  });
  const lang = select(LANGUAGES.map((l) => ({ value: l.code, label: l.name })), getLang(), {
    class: 'lang', 'aria-label': t('nav.language'), onchange: (e) => setLang(e.target.value),
  });
  clear(root, h('div', { class: 'login-page' },
    h('div', { class: 'login-card' },
      h('div', { class: 'login-brand' }, h('img', { src: '/app/favicon.svg', alt: '', width: 44, height: 44 }),
        h('div', {}, h('div', { class: 'login-name' }, t('app.name')), h('div', { class: 'login-tagline' }, t('app.tagline')))),
      form,
      h('div', { class: 'login-foot' }, lang))));
  (lastTenant ? email : tenant).focus();
}
