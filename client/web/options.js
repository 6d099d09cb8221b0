/**
 * A room's options as form fields, from a mode's description (GET /api/modes): one labelled
 * input per option at its default, with the hint the game declares (`Field.label`,
 * `Field.hint`) under it. Shared by the lobby's "private table with options" forms and the
 * table page's "another table" form; the pages those forms lead to read the options back from
 * their address (`optionsFrom`). Labels and hints are text, never markup.
 */

/** Query arguments that say what to join; every other one is a room option. */
export const TARGET_KEYS = new Set(['mode', 'room', 'code', 'create', 'watch']); // watch=1: a spectator, not an option

/** The room options in a query string: numbers and true/false as such, the rest as text. */
export function optionsFrom(params) {
  const options = {};
  for (const [key, raw] of params) {
    if (TARGET_KEYS.has(key) || !/^[a-z][a-z0-9_]{0,31}$/.test(key)) continue;
    if (raw === 'true' || raw === 'false') options[key] = raw === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(raw)) options[key] = Number(raw);
    else options[key] = raw;
  }
  return options;
}

/** The words a form shows for an option: its declared label, else its name with spaces. */
export function optionLabel(name, field) {
  return field?.label || String(name).replace(/_/g, ' ');
}

/** The input for one option (a yes/no select for a bool), named and valued for the URL. */
export function optionInput(name, field) {
  let input;
  if (field.kind === 'bool') {
    input = document.createElement('select');
    for (const [value, text] of [['true', 'yes'], ['false', 'no']]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = text;
      input.append(option);
    }
    input.value = field.default === false ? 'false' : 'true';
  } else if (Array.isArray(field.choices)) {
    input = document.createElement('select');
    for (const choice of field.choices) {
      const option = document.createElement('option');
      option.value = String(choice);
      option.textContent = String(choice);
      input.append(option);
    }
    if (field.default !== undefined) input.value = String(field.default);
  } else {
    input = document.createElement('input');
    input.type = field.kind === 'int' || field.kind === 'float' ? 'number' : 'text';
    if (field.kind === 'float') input.step = 'any';
    if (field.low !== undefined) input.min = String(field.low);
    if (field.high !== undefined) input.max = String(field.high);
    if (field.max_chars !== undefined) input.maxLength = field.max_chars;
    if (field.default !== undefined) input.value = String(field.default);
  }
  input.name = name;
  return input;
}

/**
 * One `<div class="option">`: the label (holding the input) and, if declared, the hint
 * (`<small class="option-hint">`, tied to the input by aria-describedby). `idPrefix` makes
 * the ids unique when a page has several forms.
 */
export function optionField(name, field, idPrefix = 'option') {
  const input = optionInput(name, field);
  input.id = `${idPrefix}-${name}`;
  const label = document.createElement('label');
  label.className = 'option-label';
  label.htmlFor = input.id;
  const words = document.createElement('span');
  words.textContent = optionLabel(name, field);
  label.append(words, input);
  const box = document.createElement('div');
  box.className = 'option';
  box.dataset.option = name;
  box.append(label);
  if (field.hint) {
    const hint = document.createElement('small');
    hint.className = 'option-hint muted';
    hint.id = `${input.id}-hint`;
    hint.textContent = field.hint;
    input.setAttribute('aria-describedby', hint.id);
    box.append(hint);
  }
  return box;
}

/** Fill `box` with a field per option of `options` (a mode's `options` description). */
export function fillOptions(box, options, idPrefix = 'option') {
  box.replaceChildren(...Object.entries(options ?? {})
    .map(([name, field]) => optionField(name, field, idPrefix)));
}
