import { useI18n, type MessageKey } from "../i18n";
import { AppDialog } from "./Dialog";

const SHORTCUTS: [string[], MessageKey][] = [
  [["Ctrl", "K"], "help.switcher"],
  [["Ctrl", "F"], "help.search"],
  [["Alt", "↑"], "help.prevRoom"],
  [["Alt", "↓"], "help.nextRoom"],
  [["Enter"], "help.send"],
  [["Shift", "Enter"], "help.newline"],
  [["↑"], "help.editLast"],
  [["Esc"], "help.close"],
  [["Ctrl", "L"], "help.lock"],
  [["Ctrl", ","], "help.settings"],
  [["F1"], "help.help"],
];

export function HelpDialog({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  return (
    <AppDialog title={t("help.title")} onClose={onClose} testId="help">
      <table className="shortcuts">
        <caption className="visually-hidden">{t("help.title")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("help.keys")}</th>
            <th scope="col">{t("help.action")}</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map(([keys, what]) => (
            <tr key={what}>
              <td>
                {keys.map((k, i) => (
                  <span key={k}>
                    {i > 0 ? " + " : ""}
                    <kbd>{k === "Ctrl" ? t("help.ctrl") : k === "Shift" ? t("help.shift") : k}</kbd>
                  </span>
                ))}
              </td>
              <td>{t(what)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </AppDialog>
  );
}
