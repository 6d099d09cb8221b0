/**
 * The announcement banner on pages that have no script of their own (the first screen, the
 * login page): what the server announced lately, asked for every few seconds (banner.js).
 */

import { watchAnnouncements } from './banner.js';

watchAnnouncements();
