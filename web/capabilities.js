// What the signed-in user may do, asked by name (`can('bulk_reassign')`). The server decides: it
// sends the user's capabilities with the session (`platica_domain::policy`), and enforces every
// rule again whatever the app shows. Screens never compare roles themselves.
import { dir } from './directory.js';

/** The capabilities the server knows (`Capability` in the OpenAPI document). */
export const CAPABILITIES = ['administer', 'manage_tickets', 'reassign', 'bulk_reassign', 'run_campaigns', 'see_teams', 'manage_labels'];

/** Whether the signed-in user has `capability`. */
export function can(capability) {
  if (!CAPABILITIES.includes(capability)) throw new Error(`unknown capability ${capability}`);
  return (dir.me?.capabilities ?? []).includes(capability);
}
