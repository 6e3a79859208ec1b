"""Publishing: templates, pages, the email, feeds, the editor's note, the one writer."""
