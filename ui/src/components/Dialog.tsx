import type { ReactNode } from "react";
import { Icon } from "./Icon";
import { Button, Dialog, Heading, Modal, ModalOverlay } from "react-aria-components";
import { useI18n } from "../i18n";

/** A modal dialog: focus is trapped, Esc and the close button close it. */
export function AppDialog({
  title,
  onClose,
  children,
  testId,
  size = "medium",
  dismissable = true,
  role = "dialog",
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  testId: string;
  size?: "small" | "medium" | "large";
  dismissable?: boolean;
  role?: "dialog" | "alertdialog";
}) {
  const { t } = useI18n();
  return (
    <ModalOverlay
      isOpen
      isDismissable={dismissable}
      isKeyboardDismissDisabled={!dismissable}
      onOpenChange={(open) => {
        if (!open) onClose();
      }}
      className="modal-overlay"
    >
      <Modal className={`modal modal-${size}`}>
        <Dialog className="dialog" data-testid={testId} role={role}>
          <header className="dialog-header">
            <Heading slot="title" className="dialog-title">
              {title}
            </Heading>
            {dismissable ? (
              <Button className="icon-button" aria-label={t("common.close")} onPress={onClose} data-testid={`${testId}-close`}>
                <Icon name="close" />
              </Button>
            ) : null}
          </header>
          <div className="dialog-body">{children}</div>
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}
