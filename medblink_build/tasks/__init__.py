"""Helpers shared by recipes: markers, depth markers, CT windows, masks, age bins, tissue tiles."""
