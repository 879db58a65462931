import { useEffect, useState, type ReactNode } from "react";
import { call, toUiError } from "../api";
import type { SearchHit } from "../bindings/SearchHit";
import type { UiError } from "../bindings/UiError";
import { useI18n } from "../i18n";
import { useMain } from "../screens/MainContext";
import { AppDialog } from "./Dialog";
import { ErrorNote } from "./ErrorNote";
import { PickList } from "./PickList";

export function SearchDialog({ onClose }: { onClose: () => void }) {
  const { t, dateTime } = useI18n();
  const { jumpTo } = useMain();
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [searched, setSearched] = useState(false);

  useEffect(() => {
    const query = q.trim();
    if (query.length < 2) {
      setHits([]);
      setSearched(false);
      return;
    }
    let cancelled = false;
    const id = window.setTimeout(() => {
      call("search", { query, limit: 50 })
        .then((h) => {
          if (!cancelled) {
            setHits(h);
            setSearched(true);
            setError(null);
          }
        })
        .catch((e) => !cancelled && setError(toUiError(e)));
    }, 200);
    return () => {
      cancelled = true;
      window.clearTimeout(id);
    };
  }, [q]);

  return (
    <AppDialog title={t("search.title")} onClose={onClose} testId="search" size="large">
      <PickList
        label={t("search.label")}
        placeholder={t("search.placeholder")}
        items={hits}
        itemKey={(h) => h.message.id}
        render={(h) => (
          <span className="hit">
            <span className="hit-head">
              <span className="hit-room">{h.roomName}</span>
              <span className="muted small">
                {h.message.senderName} · {dateTime(h.message.sentAt)}
              </span>
            </span>
            <span className="hit-body">
              <Highlight text={h.message.body || h.message.attachment?.name || ""} query={q.trim()} />
            </span>
          </span>
        )}
        onPick={(h) => jumpTo(h.message.room, h.message.id)}
        query={q}
        onQuery={setQ}
        testId="search"
        empty={searched ? t("search.none") : t("search.hint")}
      />
      <p className="visually-hidden" role="status">
        {searched ? t("search.count", { count: hits.length }) : ""}
      </p>
      <ErrorNote error={error} testId="search-error" />
    </AppDialog>
  );
}

/** The text with each occurrence of the query marked (case-insensitive). */
export function Highlight({ text, query }: { text: string; query: string }) {
  if (!query) return <>{text}</>;
  const lower = text.toLowerCase();
  const q = query.toLowerCase();
  const parts: ReactNode[] = [];
  let at = 0;
  for (let i = lower.indexOf(q); i >= 0 && parts.length < 40; i = lower.indexOf(q, at)) {
    if (i > at) parts.push(text.slice(at, i));
    parts.push(<mark key={i}>{text.slice(i, i + q.length)}</mark>);
    at = i + q.length;
  }
  parts.push(text.slice(at));
  return <>{parts}</>;
}
