import { Icon } from "../components/Icon";
import { useI18n } from "../i18n";

/** After an ordered wipe or a revocation: nothing to do here but call IT. */
export function EndScreen({ kind }: { kind: "wiped" | "revoked" }) {
  const { t } = useI18n();
  const wiped = kind === "wiped";
  return (
    <main className="center-screen end" data-testid={wiped ? "wiped-screen" : "revoked-screen"}>
      <section className="card card-narrow" aria-labelledby="end-title">
        <div className="end-icon">
          <Icon name={wiped ? "erased" : "revoked"} size={44} />
        </div>
        <h1 id="end-title" className="card-title">
          {wiped ? t("end.wiped.title") : t("end.revoked.title")}
        </h1>
        <p className="lead">{wiped ? t("end.wiped.body") : t("end.revoked.body")}</p>
        <h2 className="section-title">{t("end.next")}</h2>
        <ol className="plain-list">
          <li>{t("end.step.contactIt")}</li>
          <li>{wiped ? t("end.wiped.step") : t("end.revoked.step")}</li>
        </ol>
      </section>
    </main>
  );
}
