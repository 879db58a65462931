import { useId, useState, type ReactNode } from "react";

/**
 * A text field that filters a list, with the arrow keys moving through it and Enter choosing
 * (the combobox pattern, as in the quick switcher of other messengers).
 */
export function PickList<T>({
  label,
  placeholder,
  items,
  filter,
  render,
  itemKey,
  onPick,
  query,
  onQuery,
  testId,
  empty,
}: {
  label: string;
  placeholder?: string;
  items: T[];
  filter?: (item: T, q: string) => boolean;
  render: (item: T) => ReactNode;
  itemKey: (item: T) => string;
  onPick: (item: T) => void;
  query: string;
  onQuery: (q: string) => void;
  testId: string;
  empty: string;
}) {
  const id = useId();
  const [active, setActive] = useState(0);
  const q = query.trim().toLowerCase();
  const shown = filter ? items.filter((i) => filter(i, q)) : items;
  const cur = Math.min(active, Math.max(0, shown.length - 1));
  return (
    <div className="picklist">
      <label htmlFor={`${id}-input`} className="visually-hidden">
        {label}
      </label>
      <input
        id={`${id}-input`}
        className="input input-large"
        role="combobox"
        aria-expanded={shown.length > 0}
        aria-controls={`${id}-list`}
        aria-autocomplete="list"
        aria-activedescendant={shown.length > 0 ? `${id}-opt-${cur}` : undefined}
        placeholder={placeholder}
        value={query}
        autoFocus
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => {
          onQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") {
            e.preventDefault();
            setActive((a) => Math.min(shown.length - 1, a + 1));
          } else if (e.key === "ArrowUp") {
            e.preventDefault();
            setActive((a) => Math.max(0, a - 1));
          } else if (e.key === "Enter") {
            e.preventDefault();
            if (shown[cur]) onPick(shown[cur]);
          }
        }}
        data-testid={`${testId}-input`}
      />
      <ul id={`${id}-list`} role="listbox" aria-label={label} className="picklist-list" data-testid={`${testId}-list`}>
        {shown.map((item, i) => (
          <li
            key={itemKey(item)}
            id={`${id}-opt-${i}`}
            role="option"
            aria-selected={i === cur}
            className={`picklist-item${i === cur ? " picklist-item-active" : ""}`}
            onMouseEnter={() => setActive(i)}
            onClick={() => onPick(item)}
            data-testid={`${testId}-option`}
          >
            {render(item)}
          </li>
        ))}
      </ul>
      {shown.length === 0 ? <p className="muted picklist-empty">{empty}</p> : null}
    </div>
  );
}
