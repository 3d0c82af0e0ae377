"""civittui's TinyDB state, split by job; import it through `civittui.store`."""
